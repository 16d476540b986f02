"""Colourising depth maps for people to look at."""
import os.path as osp
from typing import Optional

import numpy as np


def colorize_depth(depth: np.ndarray,
                   vmin: Optional[float] = None,
                   vmax: Optional[float] = None,
                   cmap: str = 'magma_r',
                   invalid: Optional[np.ndarray] = None) -> np.ndarray:
    """Map a depth array ``[H, W]`` to an RGB uint8 image ``[H, W, 3]``.

    Args:
        depth (np.ndarray): Depth in metres.
        vmin (float, optional): Depth mapped to the first colour. Defaults to
            the minimum valid depth.
        vmax (float, optional): Depth mapped to the last colour. Defaults to
            the maximum valid depth.
        cmap (str): A matplotlib colour map. Defaults to ``'magma_r'`` (near
            is bright).
        invalid (np.ndarray, optional): Boolean mask of pixels drawn black.
    """
    from matplotlib import colormaps
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) if invalid is None else ~invalid
    vals = depth[valid]
    lo = float(vals.min()) if vmin is None and vals.size else (vmin or 0.0)
    hi = float(vals.max()) if vmax is None and vals.size else (vmax or 1.0)
    norm = np.clip((depth - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = (colormaps[cmap](norm)[..., :3] * 255).astype(np.uint8)
    rgb[~valid] = 0
    return rgb


def write_image_atomic(path: str, rgb: np.ndarray) -> None:
    """Write an RGB image (PNG/JPEG by extension) via a temp file + rename.

    Through :func:`vpd.utils.checkpoint.atomic_write_bytes`: the file gets
    the mode a plain ``open`` gives (0644 under the usual umask) and a
    failed write raises an ``OSError`` naming ``path``.
    """
    import cv2

    from vpd.utils.checkpoint import atomic_write_bytes
    ext = osp.splitext(path)[1] or '.png'
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise IOError(f'Could not encode image for "{path}"')
    atomic_write_bytes(buf.tobytes(), path)
