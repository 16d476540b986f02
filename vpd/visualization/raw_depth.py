"""Writing predicted depth maps as files that keep the values.

Formats (``fmt``):

* ``'png-mm'``: 16-bit PNG, millimetres (``value = metres * 1000``, NYU's
  convention), up to 65.535 m; file ``<base>_depth_mm.png``;
* ``'png-x256'``: 16-bit PNG, metres x 256 (KITTI's convention, what
  ``tools/test.py --out`` writes for KITTI), up to 255.99 m in steps of
  3.9 mm; file ``<base>_depth_x256.png``;
* ``'tiff'`` / ``'npy'``: float32 metres, any range, full precision;
  ``<base>_depth_m.tiff`` / ``<base>_depth_m.npy``;
* ``'auto'``: millimetre PNG when the model's ``max_depth`` (and the
  prediction) fit in 65.535 m, else the KITTI PNG, else TIFF.

0 means "no depth" in the PNGs. Each file gets a sidecar
``<file>.json`` stating the unit, the scale and how to read it, e.g.
``{"unit": "m", "scale": 256, "dtype": "uint16", "depth = value / scale"}``.
A value that a PNG cannot hold is never clipped silently: a warning gives
the number of clipped pixels and the float formats to use instead.
"""
from __future__ import annotations

import io
import json
import logging
from typing import Dict, Optional

import numpy as np

__all__ = ['RAW_DEPTH_FORMATS', 'choose_raw_depth_format', 'write_raw_depth']

#: fmt -> (file suffix, scale to the stored value, dtype, largest metres)
RAW_DEPTH_FORMATS: Dict[str, tuple] = {
    'png-mm': ('_depth_mm.png', 1000.0, 'uint16', 65535 / 1000.0),
    'png-x256': ('_depth_x256.png', 256.0, 'uint16', 65535 / 256.0),
    'tiff': ('_depth_m.tiff', 1.0, 'float32', float('inf')),
    'npy': ('_depth_m.npy', 1.0, 'float32', float('inf')),
}


def choose_raw_depth_format(max_depth: Optional[float],
                            depth: Optional[np.ndarray] = None) -> str:
    """The ``'auto'`` format for a model's ``max_depth`` (and a map).

    Args:
        max_depth (float, optional): The model's largest depth (metres),
            e.g. ``model.decode_head.max_depth``; None if unknown.
        depth (np.ndarray, optional): The prediction (metres).

    Returns:
        str: ``'png-mm'``, ``'png-x256'`` or ``'tiff'``.
    """
    top = 0.0 if max_depth is None else float(max_depth)
    if depth is not None and depth.size:
        finite = depth[np.isfinite(depth)]
        if finite.size:
            top = max(top, float(finite.max()))
    for fmt in ('png-mm', 'png-x256'):
        if top <= RAW_DEPTH_FORMATS[fmt][3]:
            return fmt
    return 'tiff'


def write_raw_depth(base: str, depth: np.ndarray, fmt: str = 'auto',
                    max_depth: Optional[float] = None) -> str:
    """Write a depth map (metres) and its sidecar JSON, atomically.

    Args:
        base (str): Output path without suffix (``OUT/<name>``); the
            format's suffix is appended (module doc).
        depth (np.ndarray): ``[H, W]`` depth in metres.
        fmt (str): ``'auto'``, ``'png-mm'``, ``'png-x256'``, ``'tiff'`` or
            ``'npy'``. Defaults to ``'auto'``.
        max_depth (float, optional): The model's ``max_depth`` (for
            ``'auto'``).

    Returns:
        str: The depth file's path (the sidecar is that path + ``.json``).

    Raises:
        ValueError: Unknown ``fmt`` or ``depth`` not ``[H, W]``.
    """
    from vpd.utils.checkpoint import atomic_write_bytes
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f'depth must be [H, W], got shape {depth.shape}')
    if fmt == 'auto':
        fmt = choose_raw_depth_format(max_depth, depth)
    if fmt not in RAW_DEPTH_FORMATS:
        raise ValueError(f'raw depth format must be "auto" or one of '
                         f'{", ".join(RAW_DEPTH_FORMATS)}, got "{fmt}"')
    suffix, scale, dtype, top = RAW_DEPTH_FORMATS[fmt]
    path = base + suffix
    meta = dict(unit='m', scale=scale, dtype=dtype,
                read=f'depth_m = value / {scale:g}',
                format=fmt, shape=list(depth.shape))
    if dtype == 'uint16':
        import cv2
        finite = np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0)
        over = int((finite > top).sum())
        if over:
            from mmengine.logging import print_log
            print_log(
                f'{path}: {over} pixels deeper than {top:.3f} m, the most '
                f'a {fmt} file holds, are stored as {top:.3f} m; use '
                '--raw-format tiff / npy (float32 metres) to keep them',
                logger='current', level=logging.WARNING)
        values = np.clip(np.rint(finite * scale), 0, 65535)
        meta.update(invalid=0, clipped_pixels=over)
        ok, buf = cv2.imencode('.png', values.astype(np.uint16))
        if not ok:
            raise IOError(f'Could not encode "{path}" as PNG')
        data = buf.tobytes()
    elif fmt == 'tiff':
        import cv2
        ok, buf = cv2.imencode('.tiff', depth)
        if not ok:
            raise IOError(f'Could not encode "{path}" as TIFF')
        data = buf.tobytes()
    else:
        stream = io.BytesIO()
        np.save(stream, depth, allow_pickle=False)
        data = stream.getvalue()
    atomic_write_bytes(data, path)
    atomic_write_bytes(
        (json.dumps(meta, indent=1) + '\n').encode('utf-8'), path + '.json')
    return path
