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


def colorize_depth_with_colorbar(depth: np.ndarray,
                                 vmin: Optional[float] = None,
                                 vmax: Optional[float] = None,
                                 cmap: str = 'magma_r',
                                 invalid: Optional[np.ndarray] = None,
                                 min_height: int = 256,
                                 label: str = 'depth (m)') -> np.ndarray:
    """:func:`colorize_depth` with a colour bar in metres on its right.

    The bar (matplotlib's ``Figure.colorbar``, ticks in the depth's unit)
    spans ``vmin`` (bottom) to ``vmax`` (top). An image lower than
    ``min_height`` pixels is first enlarged (nearest neighbour, integer
    factor) so that the tick labels stay legible.

    Args:
        depth (np.ndarray): ``[H, W]`` depth in metres.
        vmin (float, optional): Depth of the first colour; defaults to the
            minimum valid depth.
        vmax (float, optional): Depth of the last colour; defaults to the
            maximum valid depth.
        cmap (str): A matplotlib colour map. Defaults to ``'magma_r'``.
        invalid (np.ndarray, optional): Pixels drawn black.
        min_height (int): See above. Defaults to 256.
        label (str): The bar's title. Defaults to ``'depth (m)'``.

    Returns:
        np.ndarray: ``[H * k, W * k + bar_width, 3]`` uint8 RGB, ``k`` the
        enlargement factor (1 for images at least ``min_height`` high).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.cm import ScalarMappable
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) if invalid is None else ~invalid
    vals = depth[valid]
    lo = float(vals.min()) if vmin is None and vals.size else (vmin or 0.0)
    hi = float(vals.max()) if vmax is None and vals.size else (vmax or 1.0)
    if hi <= lo:
        hi = lo + 1e-3
    rgb = colorize_depth(depth, lo, hi, cmap, invalid)
    k = max(1, -(-min_height // rgb.shape[0]))
    if k > 1:
        rgb = np.repeat(np.repeat(rgb, k, axis=0), k, axis=1)
    height = rgb.shape[0]
    dpi = 100
    fontsize = max(7, min(14, height // 28))
    bar_width = max(12 * fontsize, height // 3)
    fig = Figure(figsize=(bar_width / dpi, height / dpi), dpi=dpi)
    fig.patch.set_facecolor('white')
    cax = fig.add_axes([0.08, 0.05, 0.14, 0.9])
    fig.colorbar(ScalarMappable(Normalize(lo, hi), cmap), cax=cax)
    cax.tick_params(labelsize=fontsize)
    cax.set_ylabel(label, fontsize=fontsize)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    bar = np.asarray(canvas.buffer_rgba())[..., :3]
    bar = bar[:height, :bar_width]
    return np.concatenate([rgb, bar], axis=1)
