"""Build a model from a config + checkpoint and run it on your own images.

::

    from vpd.apis import init_model, inference_model
    model = init_model('configs/vpd/vpd_sd15_8xb3-25e_nyu-480x480.py',
                       'vpd-depth-nyu')       # path, zoo name or URL
    sample = inference_model(model, 'room.jpg')
    depth = sample.pred_depth_map.data[0].numpy()   # metres, H x W

The checkpoint may be one written by this project (``.pth`` or
``.safetensors``) or a released checkpoint of the official VPD / Meta
Prompts code or of mmsegmentation's VPD port, which is converted on the fly
(:mod:`vpd.models.converters`). Every file is opened with
:func:`vpd.utils.checkpoint.load_checkpoint_file` (no code from the file can
run) and loaded strictly: a key that is missing, unexpected or of the wrong
shape is an error naming it.
"""
from __future__ import annotations

import copy
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict

__all__ = [
    'init_model', 'inference_model', 'inference_depth',
    'prepare_config_for_checkpoint', 'load_model_weights',
    'dataset_meta_from_config', 'build_inference_pipeline'
]

ImageInput = Union[str, np.ndarray]

#: Test-pipeline transforms that read annotations (absent for your own
#: images) or crop a benchmark region; dropped by :func:`inference_model`.
INFERENCE_SKIPPED_TRANSFORMS = ('LoadDepthMap', 'LoadAnnotations',
                                'KBCrop')


def _model_cfgs(cfg: Config) -> List[ConfigDict]:
    """The model config and, if present, the one a TTA wrapper holds."""
    out = [cfg.model]
    module = cfg.model.get('module') if isinstance(cfg.model, dict) else None
    if isinstance(module, dict):
        out.append(module)
    return out


def prepare_config_for_checkpoint(cfg: Config,
                                  checkpoint: Optional[str] = None) -> Config:
    """Make ``cfg.model`` take every weight from a checkpoint.

    A full checkpoint (official or ours) holds the Stable Diffusion UNet and
    VAE and the class embeddings, so the model is built without them:
    ``backbone.pretrained`` (and a segmentor's ``pretrained``) become None
    and a ``ClassEmbeddingConditioner`` whose ``num_classes`` is set gets
    ``class_embeddings=None`` (a placeholder buffer of the right shape that
    the checkpoint overwrites). Neither the SD weights nor the embedding file
    need to exist then.

    With ``checkpoint``, the model config is also fitted to the file
    (:func:`vpd.models.converters.fit_config_to_checkpoint`, with a
    warning when it changes anything): a converted checkpoint's stored
    model config, or the Stable Diffusion architecture of a released one,
    replaces what the config says.

    Args:
        cfg (Config): The config; modified in place.
        checkpoint (str, optional): Local path of the checkpoint that will
            be loaded. Defaults to None.

    Returns:
        Config: ``cfg``.
    """
    for model in _model_cfgs(cfg):
        if 'pretrained' in model:
            model['pretrained'] = None
        backbone = model.get('backbone')
        if isinstance(backbone, dict) and 'pretrained' in backbone:
            backbone['pretrained'] = None
        cond = model.get('conditioner')
        if (isinstance(cond, dict)
                and cond.get('type') == 'ClassEmbeddingConditioner'
                and cond.get('class_embeddings') is not None
                and cond.get('num_classes') is not None):
            cond['class_embeddings'] = None
    if checkpoint is not None:
        from vpd.models.converters import fit_config_to_checkpoint
        fit_config_to_checkpoint(cfg, checkpoint)
    return cfg


def dataset_meta_from_config(cfg: Config) -> Optional[Dict[str, Any]]:
    """``classes`` / ``palette`` of the config's test dataset, if it has any.

    Read from the dataset class's ``METAINFO`` (and a ``metainfo`` override
    in the config) without building the dataset, so the data need not exist.

    Args:
        cfg (Config): The config.

    Returns:
        dict | None: The metainfo, or None when there is none.
    """
    try:
        dataset = cfg.test_dataloader.dataset
    except AttributeError:
        return None
    while isinstance(dataset, dict) and 'dataset' in dataset and \
            'type' in dataset and 'ann_file' not in dataset:
        dataset = dataset['dataset']  # RepeatDataset and the like
    if not isinstance(dataset, dict) or 'type' not in dataset:
        return None
    from vpd.registry import DATASETS
    meta: Dict[str, Any] = {}
    cls = dataset['type'] if not isinstance(dataset['type'], str) else \
        DATASETS.get(dataset['type'])
    if cls is not None:
        meta.update(copy.deepcopy(dict(getattr(cls, 'METAINFO', {}) or {})))
    meta.update(copy.deepcopy(dict(dataset.get('metainfo') or {})))
    return meta or None


def load_model_weights(model: nn.Module,
                       checkpoint: Union[str, os.PathLike],
                       source: Optional[str] = 'auto',
                       log: Optional[Callable[[str], None]] = None
                       ) -> Dict[str, Any]:
    """Load a checkpoint into ``model`` strictly, converting official ones.

    Args:
        model (nn.Module): The model (unwrapped).
        checkpoint (str | os.PathLike): A path (``.pth`` / ``.safetensors``),
            a model-zoo name whose file is in the cache (or downloadable) or
            a URL (see :func:`vpd.utils.model_zoo.resolve_checkpoint`).
        source (str, optional): For released checkpoints, the source format
            or family; ``'auto'`` detects it from the keys.
        log (callable, optional): Receives progress lines.

    Returns:
        dict: The checkpoint's ``meta`` (empty if it has none).

    Raises:
        vpd.models.converters.ConversionError: A key is missing, unexpected
            or of the wrong shape (the message lists them).
    """
    from vpd.models.converters import (ConversionError, convert_checkpoint,
                                       detect_source, unwrap_checkpoint)
    from vpd.utils.checkpoint import load_checkpoint_file
    from vpd.utils.model_zoo import resolve_checkpoint
    log = log or (lambda _msg: None)
    path = resolve_checkpoint(checkpoint)
    log(f'loading {path}')
    ckpt = load_checkpoint_file(path)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    meta = dict(meta) if isinstance(meta, dict) else {}
    state, _ = unwrap_checkpoint(ckpt)
    try:
        official = detect_source(state)
    except ConversionError:
        official = None
    if official is not None:
        result = convert_checkpoint(ckpt, source, model, name=str(path))
        for line in result.summary():
            log(line)
        model.load_state_dict(result.state_dict, strict=True)
        return meta
    target = model.state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    mismatched = [
        f'{k}: checkpoint {tuple(state[k].shape)}, model '
        f'{tuple(target[k].shape)}' for k in target
        if k in state and isinstance(state[k], torch.Tensor)
        and tuple(state[k].shape) != tuple(target[k].shape)
    ]
    if missing or unexpected or mismatched:
        lines = [f'Checkpoint "{path}" does not match the model built by the '
                 'config:']
        if missing:
            lines.append(f'  {len(missing)} missing keys: '
                         f'{", ".join(missing[:20])}'
                         + (' ...' if len(missing) > 20 else ''))
        if unexpected:
            lines.append(f'  {len(unexpected)} unexpected keys: '
                         f'{", ".join(unexpected[:20])}'
                         + (' ...' if len(unexpected) > 20 else ''))
        if mismatched:
            lines.append(f'  {len(mismatched)} shape mismatches: '
                         f'{"; ".join(mismatched[:10])}')
        lines.append('  Is it the checkpoint of this config (architecture, '
                     'number of classes / prompts / loops)?')
        raise ConversionError('\n'.join(lines), missing=missing,
                              unexpected=unexpected, mismatched=mismatched)
    model.load_state_dict(state, strict=True)
    log(f'loaded {len(target)} tensors')
    return meta


def init_model(config: Union[str, os.PathLike, Config],
               checkpoint: Optional[Union[str, os.PathLike]] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None,
               source: Optional[str] = 'auto') -> nn.Module:
    """Build a model from a config and load a checkpoint.

    Args:
        config (str | os.PathLike | Config): Config file or object (not
            modified).
        checkpoint (str | os.PathLike, optional): Path, model-zoo name or
            URL (see :func:`load_model_weights`). With a checkpoint the model
            is built without the Stable Diffusion weights and class-embedding
            file of the config (:func:`prepare_config_for_checkpoint`): the
            checkpoint holds them. None: the config's own weights (random or
            ``pretrained``).
        device (str): Where the model goes. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Config overrides, as ``--cfg-options``
            (checked: see :func:`vpd.engine.config_check.merge_cfg_options`).
        source (str, optional): Source format of a released checkpoint;
            ``'auto'`` detects it. Defaults to ``'auto'``.

    Returns:
        nn.Module: The model in eval mode, with ``cfg`` and (when the config
        or checkpoint knows it) ``dataset_meta`` set.
    """
    from vpd.engine.config_check import load_config, merge_cfg_options
    from vpd.registry import MODELS
    from vpd.utils import register_all_modules
    if isinstance(config, Config):
        cfg = merge_cfg_options(copy.deepcopy(config), cfg_options)
    else:
        cfg = load_config(os.fspath(config), cfg_options)
    if checkpoint is not None:
        from vpd.utils.model_zoo import resolve_checkpoint
        checkpoint = resolve_checkpoint(checkpoint)
        prepare_config_for_checkpoint(cfg, checkpoint)
    register_all_modules(init_default_scope=True)
    model = MODELS.build(cfg.model)
    meta: Dict[str, Any] = {}
    if checkpoint is not None:
        meta = load_model_weights(model, checkpoint, source=source)
    model.cfg = cfg
    dataset_meta = meta.get('dataset_meta') or dataset_meta_from_config(cfg)
    if dataset_meta:
        model.dataset_meta = dataset_meta
    model.to(device)
    model.eval()
    return model


def build_inference_pipeline(cfg: Config, from_array: bool = False):
    """The config's test pipeline without annotation loading.

    Args:
        cfg (Config): The model's config.
        from_array (bool): Images are given as arrays (BGR, as ``cv2``
            reads them): ``LoadImageFromFile`` becomes
            ``LoadImageFromNDArray``.

    Returns:
        Callable: The composed pipeline.
    """
    from mmengine.dataset import Compose
    if 'test_pipeline' in cfg:
        steps = cfg.test_pipeline
    else:
        try:
            steps = cfg.test_dataloader.dataset.pipeline
        except AttributeError as e:
            raise KeyError('The config has neither test_pipeline nor '
                           'test_dataloader.dataset.pipeline') from e
    out = []
    for step in copy.deepcopy(list(steps)):
        kind = step.get('type')
        if kind in INFERENCE_SKIPPED_TRANSFORMS:
            continue
        if from_array and kind == 'LoadImageFromFile':
            step = dict(type='LoadImageFromNDArray')
        out.append(step)
    if not out or out[0].get('type') not in ('LoadImageFromFile',
                                             'LoadImageFromNDArray'):
        out.insert(0, dict(type='LoadImageFromNDArray' if from_array else
                           'LoadImageFromFile'))
    return Compose(out)


def inference_model(model: nn.Module,
                    imgs: Union[ImageInput, Sequence[ImageInput]],
                    bboxes: Optional[Any] = None):
    """Predict depth, segmentation or poses for images.

    Args:
        model (nn.Module): From :func:`init_model` (needs ``model.cfg``).
        imgs (str | np.ndarray | list): An image path or a BGR ``uint8``
            array ``[H, W, 3]``, or a list of them.
        bboxes (np.ndarray | list, optional): Pose models only: person
            boxes ``[N, 4]`` / ``[N, 5]`` (x1, y1, x2, y2(, score)) of the
            image, or one such array per image of a list. None: the whole
            image is one box.

    Returns:
        SegDataSample | list[SegDataSample] | list[dict]: ``pred_depth_map``
        (metres) for depth models, ``pred_sem_seg`` and ``seg_logits`` for
        segmentors, COCO keypoint results (one dict per box,
        :func:`vpd.apis.pose_inference.inference_pose`) for pose models; a
        list (per image) when a list was given.
    """
    # --- pose models: top-down, one crop per person box (pose_inference) ---
    from vpd.models.estimators import DiffusionPoseEstimator
    if isinstance(model, DiffusionPoseEstimator):
        from .pose_inference import inference_pose
        if not isinstance(imgs, (list, tuple)):
            return inference_pose(model, imgs, bboxes)
        per_image = bboxes if bboxes is not None else [None] * len(imgs)
        return [inference_pose(model, i, b) for i, b in zip(imgs, per_image)]
    if bboxes is not None:
        raise ValueError('bboxes is for pose models only')
    # --- depth / segmentation ---
    from mmengine.dataset import pseudo_collate
    from vpd.utils import register_all_modules
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError('inference_model needs model.cfg; build the '
                             'model with vpd.apis.init_model')
    single = not isinstance(imgs, (list, tuple))
    items = [imgs] if single else list(imgs)
    if not items:
        return []
    register_all_modules(init_default_scope=True)
    pipelines = {}

    def pipeline(from_array: bool):
        if from_array not in pipelines:
            pipelines[from_array] = build_inference_pipeline(
                cfg, from_array=from_array)
        return pipelines[from_array]

    data = []
    for item in items:
        if isinstance(item, np.ndarray):
            data.append(pipeline(True)(dict(img=item)))
        else:
            path = os.fspath(item)
            if not osp.isfile(path):
                raise FileNotFoundError(f'Image "{path}" does not exist')
            data.append(pipeline(False)(dict(img_path=path)))
    batch = pseudo_collate(data)
    with torch.no_grad():
        results = model.test_step(batch)
    return results[0] if single else results


def inference_depth(model: nn.Module,
                    imgs: Union[ImageInput, Sequence[ImageInput]]):
    """:func:`inference_model` for depth models (checks the model kind).

    Args:
        model (nn.Module): A depth model from :func:`init_model`.
        imgs (str | np.ndarray | list): Image path(s) or BGR array(s).

    Returns:
        SegDataSample | list[SegDataSample]: With ``pred_depth_map``
        (``[1, H, W]``, metres).
    """
    from vpd.models.estimators import DiffusionDepthEstimator
    if not isinstance(model, DiffusionDepthEstimator):
        raise TypeError(f'inference_depth needs a depth model, got '
                        f'{type(model).__name__}; use inference_model')
    return inference_model(model, imgs)
