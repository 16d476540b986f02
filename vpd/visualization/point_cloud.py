"""Depth maps as coloured 3-D point clouds (PLY files)."""
from __future__ import annotations

import math
import os
import os.path as osp
import tempfile
from typing import Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ['CAMERAS', 'camera_intrinsics', 'intrinsics_from_fov',
           'depth_to_points', 'write_ply']

#: Known cameras: ``(fx, fy, cx, cy, width, height)`` in pixels at their
#: native image size; :func:`camera_intrinsics` scales them to an image.
CAMERAS = {
    # NYU Depth v2 Kinect colour camera (NYU toolbox camera_params.m:
    # fx_rgb, fy_rgb, cx_rgb, cy_rgb), 640x480 images
    'nyu': (518.8579, 519.4696, 325.5824, 253.7362, 640, 480),
    # KITTI raw 2011_09_26, left colour camera (calib_cam_to_cam.txt,
    # P_rect_02), 1242x375 images; other days differ by under 1 %
    'kitti': (721.5377, 721.5377, 609.5593, 172.8540, 1242, 375),
}


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


def camera_intrinsics(camera: Union[str, Sequence[float]], width: int,
                      height: int) -> Tuple[float, float, float, float]:
    """Intrinsics of a named camera or given values, for an image size.

    A named camera (:data:`CAMERAS`, ``'nyu'`` or ``'kitti'``) is scaled
    from its native size to ``width x height`` (x and y separately, as a
    resize does; a crop would keep the focal length, so pass the values
    instead). ``'fov:<degrees>'`` is :func:`intrinsics_from_fov`. Four
    numbers are ``(fx, fy, cx, cy)`` in pixels of this image, used as
    given.

    Args:
        camera (str | Sequence[float]): See above.
        width (int): Image width in pixels.
        height (int): Image height in pixels.

    Returns:
        tuple: ``(fx, fy, cx, cy)`` in pixels.

    Raises:
        ValueError: An unknown name or not four positive focal values.
    """
    if isinstance(camera, str):
        name = camera.strip().lower()
        if name.startswith('fov:'):
            return intrinsics_from_fov(width, height, float(name[4:]))
        if name not in CAMERAS:
            raise ValueError(
                f'unknown camera "{camera}"; use one of '
                f'{", ".join(CAMERAS)}, "fov:<degrees>" or four numbers '
                'fx,fy,cx,cy (pixels)')
        fx, fy, cx, cy, w0, h0 = CAMERAS[name]
        sx, sy = width / w0, height / h0
        return fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5
    values = [float(v) for v in camera]
    if len(values) != 4 or values[0] <= 0 or values[1] <= 0:
        raise ValueError(f'intrinsics must be four numbers fx, fy, cx, cy '
                         f'with fx, fy > 0, got {camera!r}')
    return tuple(values)  # type: ignore[return-value]


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
