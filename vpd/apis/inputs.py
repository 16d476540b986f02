"""Turning whatever a user passes as an image into one known format.

Every entry point that takes images (:func:`vpd.apis.inference_model`,
``tools/inference.py``, ``tools/demo.py``) first brings each image to the
one format the test pipelines were written for: a **BGR uint8 array
``[H, W, 3]``** (what ``cv2.imread`` returns), with its file path when it
came from a file. What is accepted:

* a **path** (``str`` / ``os.PathLike``): read with OpenCV as stored
  (``IMREAD_UNCHANGED``), so 16-bit images are scaled to 8 bits
  (``value / 257``), grey images are replicated to three channels and the
  alpha channel of a PNG is dropped (not composited);
* a **PIL image**: RGB whatever ``channel_order`` says (PIL has no other
  order); palette / grey / RGBA / CMYK images are converted to RGB, 16-bit
  grey (``I;16``) scaled by ``1 / 257``; 32-bit integer (``I``) and float
  (``F``) images need ``value_range``;
* a **uint8 array** ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or
  ``[H, W, 4]`` in ``channel_order`` (``'bgr'``, OpenCV's, by default, or
  ``'rgb'``, PIL's / matplotlib's / imageio's): grey is replicated, the
  fourth channel (alpha) dropped;
* an array of **any other dtype** (float, uint16, int...) only with
  ``value_range=(low, high)``, the values that mean black and white; it is
  mapped linearly to 0..255 (clipped) and rounded to uint8. Without it the
  array is refused: a float image in 0..1 read as 0..255 is nearly black
  and changes a depth prediction by metres.

Arrays in ``[C, H, W]`` order (a torch habit), torch tensors and other
types are refused with a message saying what is expected.

Written here because no dependency offers this exact contract (mmcv's
``imread`` takes paths and arrays but neither PIL images nor an explicit
range, and passes 4-channel arrays through).
"""
from __future__ import annotations

import logging
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from vpd.utils.scene_class import scene_class_index

__all__ = ['CHANNEL_ORDERS', 'InputImage', 'load_image', 'to_bgr_uint8',
           'normalize_images', 'class_index', 'scene_class_ids',
           'size_batches']

#: Channel orders an array can be given in.
CHANNEL_ORDERS = ('bgr', 'rgb')


@dataclass
class InputImage:
    """One image brought to the pipelines' format.

    Attributes:
        img (np.ndarray): ``[H, W, 3]`` uint8, BGR.
        path (str | None): The file it was read from (None for arrays and
            PIL images without a file name).
        name (str): How messages refer to it (the path, or ``image i``).
    """

    img: np.ndarray
    path: Optional[str]
    name: str


def _check_range(value_range: Any, name: str) -> Tuple[float, float]:
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f'{name}: value_range must be two numbers (low, '
                         f'high), got {value_range!r}') from None
    if not high > low:
        raise ValueError(f'{name}: value_range must have high > low, got '
                         f'{value_range!r}')
    return low, high


def _to_uint8(arr: np.ndarray, value_range: Optional[Sequence[float]],
              name: str) -> np.ndarray:
    """uint8 values of ``arr`` (any dtype), using ``value_range``."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if value_range is None:
        finite = arr[np.isfinite(arr)] if arr.dtype.kind == 'f' else arr
        seen = (f'{finite.min():g}..{finite.max():g}' if finite.size else
                'no finite values')
        raise ValueError(
            f'{name}: a {arr.dtype} array (values {seen}) is not a uint8 '
            'image; give the values that mean black and white, e.g. '
            'value_range=(0, 1) for a float image in 0..1 or (0, 65535) '
            'for 16 bits, or pass a uint8 array')
    low, high = _check_range(value_range, name)
    scaled = (arr.astype(np.float64) - low) * (255.0 / (high - low))
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_bgr_uint8(img: Any,
                 channel_order: str = 'bgr',
                 value_range: Optional[Sequence[float]] = None,
                 name: str = 'image') -> np.ndarray:
    """An array or PIL image as a BGR uint8 ``[H, W, 3]`` array.

    Args:
        img (np.ndarray | PIL.Image.Image): ``[H, W]``, ``[H, W, 1]``,
            ``[H, W, 3]`` or ``[H, W, 4]`` array, or a PIL image (module
            doc).
        channel_order (str): ``'bgr'`` or ``'rgb'``: the order of an
            array's channels (ignored for PIL images, always RGB).
            Defaults to ``'bgr'``.
        value_range (Sequence[float], optional): ``(low, high)`` values of
            black and white; required for arrays that are not uint8 (or
            bool). Defaults to None.
        name (str): How the error messages name the image.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 BGR (C-contiguous; a new array
        unless ``img`` already was one).

    Raises:
        ValueError: Unknown ``channel_order``; a shape that is not an image
            (including ``[C, H, W]``); an empty image; a non-uint8 array
            without ``value_range``.
        TypeError: Not an array or PIL image.
    """
    order = str(channel_order).lower()
    if order not in CHANNEL_ORDERS:
        raise ValueError(f'channel_order must be one of {CHANNEL_ORDERS}, '
                         f'got {channel_order!r}')
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        Image = None
    if Image is not None and isinstance(img, Image.Image):
        if img.mode in ('I;16', 'I;16B', 'I;16L', 'I;16N'):
            arr = np.asarray(img).astype(np.float64) / 257.0
            arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        elif img.mode in ('I', 'F'):
            arr = _to_uint8(np.asarray(img), value_range, name)
        else:
            arr = np.asarray(img.convert('RGB'))
        order = 'rgb'
    elif isinstance(img, np.ndarray):
        arr = _to_uint8(img, value_range, name)
    else:
        raise TypeError(
            f'{name}: expected a file path, a PIL image or a numpy array '
            f'[H, W(, C)], got {type(img).__module__}.'
            f'{type(img).__name__}'
            + (' (convert a tensor with .permute(1, 2, 0).cpu().numpy())'
               if type(img).__name__ == 'Tensor' else ''))
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and \
            arr.shape[2] not in (1, 3, 4):
        raise ValueError(f'{name}: array of shape {arr.shape} looks like '
                         '[C, H, W]; pass [H, W, C] (e.g. '
                         'arr.transpose(1, 2, 0))')
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f'{name}: expected an image [H, W], [H, W, 1], '
                         f'[H, W, 3] or [H, W, 4], got shape {arr.shape}')
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f'{name}: the image is empty (shape {arr.shape})')
    arr = arr[..., :3]
    if order == 'rgb':
        arr = arr[..., ::-1]
    return np.ascontiguousarray(arr)


def load_image(path: str) -> np.ndarray:
    """Read an image file as a BGR uint8 ``[H, W, 3]`` array.

    8- and 16-bit PNG / TIFF, JPEG, BMP, WebP (whatever OpenCV reads; PIL
    as a fallback, e.g. for GIF); grey replicated, alpha dropped, 16 bits
    scaled by ``1 / 257``, float TIFFs taken as 0..1.

    Args:
        path (str): The file.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 BGR.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: The file is not a readable image (message names it).
    """
    import cv2
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'image "{path}" does not exist')
    arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if arr is None:
        try:
            from PIL import Image
            with Image.open(path) as pil:
                pil.load()
                return to_bgr_uint8(pil, name=f'image "{path}"')
        except Exception as e:  # noqa: BLE001 - decoders raise many types
            raise ValueError(
                f'cannot read image "{path}": the file is corrupt or not an '
                f'image ({type(e).__name__}: {e})') from None
    ranges = {np.dtype(np.uint16): (0, 65535), np.dtype(np.float32): (0, 1),
              np.dtype(np.float64): (0, 1)}
    return to_bgr_uint8(arr, 'bgr', ranges.get(arr.dtype),
                        name=f'image "{path}"')


def normalize_images(imgs: Any,
                     channel_order: str = 'bgr',
                     value_range: Optional[Sequence[float]] = None
                     ) -> Tuple[List[InputImage], bool]:
    """Bring one image or a list of images to :class:`InputImage`.

    Args:
        imgs: A path, array or PIL image, or a list / tuple of them (mixed
            kinds and sizes are fine).
        channel_order (str): Order of the arrays' channels, ``'bgr'`` or
            ``'rgb'``. Defaults to ``'bgr'``.
        value_range (Sequence[float], optional): ``(low, high)`` for arrays
            that are not uint8. Defaults to None.

    Returns:
        tuple: The images and whether a single image (not a list) was
        given.

    Raises:
        FileNotFoundError | ValueError | TypeError: See :func:`load_image`
            and :func:`to_bgr_uint8`; the message names the image (its path
            or its index in the list).
    """
    single = not isinstance(imgs, (list, tuple))
    items = [imgs] if single else list(imgs)
    out = []
    for i, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            path = os.fspath(item)
            out.append(InputImage(load_image(path), path, f'"{path}"'))
            continue
        name = 'image' if single else f'image {i} of the list'
        path = getattr(item, 'filename', None) or None  # PIL from a file
        out.append(InputImage(
            to_bgr_uint8(item, channel_order, value_range, name),
            path if isinstance(path, str) else None, name))
    return out, single


def class_index(names: Sequence[str], wanted: Any) -> int:
    """The index of class ``wanted`` (a name, or an index; -1: the mean).

    Raises:
        ValueError: An unknown name (the message lists the known ones) or
            an index outside ``[-1, len(names))``.
    """
    if isinstance(wanted, (int, np.integer)):
        if not -1 <= int(wanted) < len(names):
            raise ValueError(f'class index {wanted} is not in [-1, '
                             f'{len(names)})')
        return int(wanted)
    if str(wanted) in names:
        return list(names).index(str(wanted))
    raise ValueError(f'unknown class name "{wanted}"; this model knows: '
                     f'{", ".join(names)}')


def scene_class_ids(model: Any, images: Sequence[InputImage],
                    class_name: Any = None) -> Optional[List[int]]:
    """The depth class (``category_id``) of each image, logging fallbacks.

    Models whose conditioner picks one class embedding per image (VPD
    depth, ``ClassEmbeddingConditioner(mode='per_image')``) find the class
    in the image's path; ``class_name`` chooses it instead. When neither
    gives a class, the model uses the mean of all class embeddings, and a
    warning says so (once per call, naming the images).

    Args:
        model: From :func:`vpd.apis.init_model`.
        images (Sequence[InputImage]): The images.
        class_name (str | int | Sequence, optional): A class name of the
            model's list (e.g. ``'kitchen'``) or its index (-1: the mean),
            for every image, or one per image (None entries: from the
            path). Defaults to None.

    Returns:
        list[int] | None: One ``category_id`` per image (-1: the mean), or
        None for models without per-image classes.

    Raises:
        ValueError: ``class_name`` for a model without per-image classes,
            an unknown name (the message lists the known ones) or a list of
            the wrong length.
    """
    cond = getattr(model, 'conditioner', None)
    names = getattr(cond, 'class_names', None)
    if getattr(cond, 'mode', None) != 'per_image' or not names:
        if class_name is not None:
            raise ValueError(
                f'class_name is for depth models that choose a class '
                f'embedding per image (VPD depth); {type(model).__name__} '
                'has none')
        return None
    if isinstance(class_name, (list, tuple)):
        if len(class_name) != len(images):
            raise ValueError(f'{len(class_name)} class names for '
                             f'{len(images)} images')
        given = list(class_name)
    else:
        given = [class_name] * len(images)
    ids = []
    for image, wanted in zip(images, given):
        if wanted is None:
            ids.append(scene_class_index(image.path or '', names,
                                         cond.scene_rule))
        else:
            ids.append(class_index(names, wanted))
    fallback = [img.name for img, i, w in zip(images, ids, given)
                if i == -1 and w is None]
    if fallback:
        from mmengine.logging import print_log
        shown = ', '.join(fallback[:5]) + (' ...' if len(fallback) > 5
                                           else '')
        print_log(
            f'no depth class in the path of {len(fallback)} image(s) '
            f'({shown}): using the mean of the {len(names)} class '
            'embeddings; choose one with class_name= (API) or --class-name '
            f'(tools/inference.py), e.g. "{names[0]}"',
            logger='current', level=logging.WARNING)
    return ids


def size_batches(shapes: Sequence[Tuple[int, ...]],
                 batch_size: int) -> List[List[int]]:
    """Indices grouped into batches of equal shape, in first-seen order.

    Args:
        shapes (Sequence[tuple]): The shape of each item.
        batch_size (int): Largest batch (>= 1).

    Returns:
        list[list[int]]: Each index once; a batch holds items of one shape.
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    groups: dict = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(i)
    return [idx[k:k + batch_size] for idx in groups.values()
            for k in range(0, len(idx), batch_size)]
