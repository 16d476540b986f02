"""Referring segmentation on your own images: one mask per sentence.

::

    from vpd.apis import inference_model, init_model
    model = init_model(CONFIG, CHECKPOINT)
    sample = inference_model(model, 'street.jpg', text='the man on the left')
    mask = sample.pred_sem_seg.data[0]          # H x W, 1 = the object

Kept apart from :mod:`vpd.apis.inference` (which dispatches here when the
model reads sentences): the image goes through the config's test pipeline
(annotation loading dropped) once per sentence, and all sentences of an
image run as one batch.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import List, Sequence, Union

import numpy as np
import torch
import torch.nn as nn

ImageInput = Union[str, np.ndarray]
TextInput = Union[str, Sequence[str]]


def is_referring_model(model: nn.Module) -> bool:
    """Whether ``model`` needs a sentence per image (``needs_text``)."""
    return bool(getattr(getattr(model, 'conditioner', None), 'needs_text',
                        False))


def _texts(text: TextInput) -> List[str]:
    texts = [text] if isinstance(text, str) else list(text)
    if not texts:
        raise ValueError('text is empty: give at least one sentence')
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f'text[{i}] must be a str, got '
                            f'{type(t).__name__}')
        if not t.strip():
            raise ValueError(f'text[{i}] is an empty sentence ({t!r}); a '
                             'referring model needs a description of the '
                             'object to segment')
    return texts


def inference_referring(model: nn.Module,
                        imgs: Union[ImageInput, Sequence[ImageInput]],
                        text: TextInput):
    """Segment the object each sentence describes.

    Sentences longer than the model's ``token_length`` are truncated with a
    warning (as the official code), unless the conditioner was built with
    ``truncate=False`` (then a ``ValueError``).

    Args:
        model (nn.Module): A referring model from :func:`init_model`.
        imgs (str | np.ndarray | list): An image path or BGR ``uint8``
            array ``[H, W, 3]``, or a list of them.
        text (str | Sequence[str]): One sentence, or several (each gets its
            own mask).

    Returns:
        SegDataSample | list: For one image and one sentence a
        ``SegDataSample`` with ``pred_sem_seg`` (``[1, H, W]``, 1 = the
        referred object, at the image size), ``seg_logits`` and
        ``pred_sem_seg_input``; a list over sentences when ``text`` is a
        list; a list over images (of those) when ``imgs`` is a list.
    """
    from mmengine.dataset import pseudo_collate

    from vpd.utils import register_all_modules
    from .inference import build_inference_pipeline
    if not is_referring_model(model):
        raise TypeError(f'text= is only for referring-segmentation models; '
                        f'{type(model).__name__} takes no sentence')
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError('inference needs model.cfg; build the model '
                             'with vpd.apis.init_model')
    texts = _texts(text)
    single_img = not isinstance(imgs, (list, tuple))
    register_all_modules(init_default_scope=True)
    out = []
    for img in ([imgs] if single_img else list(imgs)):
        if isinstance(img, np.ndarray):
            pipeline = build_inference_pipeline(cfg, from_array=True)
            items = [dict(img=img, text=t) for t in texts]
        else:
            path = os.fspath(img)
            if not osp.isfile(path):
                raise FileNotFoundError(f'Image "{path}" does not exist')
            pipeline = build_inference_pipeline(cfg, from_array=False)
            items = [dict(img_path=path, text=t) for t in texts]
        batch = pseudo_collate([pipeline(item) for item in items])
        with torch.no_grad():
            results = model.test_step(batch)
        out.append(results[0] if isinstance(text, str) else results)
    return out[0] if single_img else out
