"""Depth maps as coloured 3-D point clouds (PLY files)."""
from __future__ import annotations

import math
import os
import os.path as osp
import tempfile
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ['intrinsics_from_fov', 'depth_to_points', 'write_ply']


def intrinsics_from_fov(width: int, height: int,
                        fov_deg: float = 60.0) -> Tuple[float, float, float,
                                                        float]:
    """Pinhole intrinsics of an unknown camera from its field of view.

    Square pixels, principal point at the image centre, horizontal field of
    view ``fov_deg``: ``fx = fy = (width / 2) / tan(fov / 2)``. (NYUv2's
    Kinect: fx 518.9 px at 640 px width, a 63.3 degree field of view.)

    Args:
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        fov_deg (float): Horizontal field of view in degrees, in (0, 180).
            Defaults to 60.

    Returns:
        tuple: ``(fx, fy, cx, cy)`` in pixels.

    Raises:
        ValueError: ``fov_deg`` outside (0, 180).
    """
    if not 0 < fov_deg < 180:
        raise ValueError(f'field of view must be in (0, 180) degrees, got '
                         f'{fov_deg}')
    f = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    return f, f, (width - 1) / 2.0, (height - 1) / 2.0


def depth_to_points(depth: np.ndarray,
                    intrinsics: Sequence[float],
                    rgb: Optional[np.ndarray] = None,
                    valid: Optional[np.ndarray] = None
                    ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Back-project a depth map through a pinhole camera.

    Pixel ``(u, v)`` (column, row) with depth ``z`` becomes
    ``x = (u - cx) * z / fx``, ``y = (v - cy) * z / fy``, ``z``: camera
    coordinates in the OpenCV convention (x right, y down, z forward), in
    the depth's unit (metres for this project's models).

    Args:
        depth (np.ndarray): ``[H, W]`` depth along the optical axis (z, not
            the distance along the ray).
        intrinsics (Sequence[float]): ``(fx, fy, cx, cy)`` in pixels.
        rgb (np.ndarray, optional): ``[H, W, 3]`` uint8 colours.
        valid (np.ndarray, optional): ``[H, W]`` bool; by default the
            finite, positive depths.

    Returns:
        tuple: ``points`` ``[N, 3]`` float32 and ``colors`` ``[N, 3]``
        uint8 (None without ``rgb``), in row-major pixel order.

    Raises:
        ValueError: Wrong shapes or non-positive focal lengths.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f'depth must be [H, W], got shape {depth.shape}')
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    if fx <= 0 or fy <= 0:
        raise ValueError(f'focal lengths must be positive, got fx={fx}, '
                         f'fy={fy}')
    if rgb is not None and tuple(rgb.shape[:2]) != depth.shape:
        raise ValueError(f'rgb {rgb.shape[:2]} and depth {depth.shape} '
                         'differ in size')
    if valid is None:
        valid = np.isfinite(depth) & (depth > 0)
    v, u = np.nonzero(valid)
    z = depth[v, u]
    points = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z],
                      axis=1).astype(np.float32)
    colors = None
    if rgb is not None:
        colors = np.asarray(rgb, dtype=np.uint8)[v, u]
    return points, colors


def write_ply(path: str, points: np.ndarray,
              colors: Optional[np.ndarray] = None) -> None:
    """Write points (and colours) as a binary little-endian PLY, atomically.

    The file has one ``vertex`` element with float ``x, y, z`` and, with
    colours, uchar ``red, green, blue`` (written with ``plyfile``), as
    MeshLab, CloudCompare and Open3D read it.

    Args:
        path (str): Output ``.ply`` file (folders are created).
        points (np.ndarray): ``[N, 3]`` coordinates.
        colors (np.ndarray, optional): ``[N, 3]`` uint8 RGB.

    Raises:
        ValueError: Wrong shapes.
    """
    from plyfile import PlyData, PlyElement
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'points must be [N, 3], got {points.shape}')
    fields = [('x', 'f4'), ('y', 'f4'), ('z', 'f4')]
    if colors is not None:
        colors = np.asarray(colors, dtype=np.uint8)
        if colors.shape != points.shape:
            raise ValueError(f'colors {colors.shape} must match points '
                             f'{points.shape}')
        fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
    vertex = np.empty(len(points), dtype=fields)
    vertex['x'], vertex['y'], vertex['z'] = points.T
    if colors is not None:
        vertex['red'], vertex['green'], vertex['blue'] = colors.T
    ply = PlyData([PlyElement.describe(vertex, 'vertex')], text=False,
                  byte_order='<')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.ply.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            ply.write(f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
