"""Depth -> coloured point cloud (PLY): geometry and file."""
import numpy as np
import pytest
from plyfile import PlyData

from vpd.visualization import depth_to_points, intrinsics_from_fov, write_ply


def test_a_plane_comes_back_planar(tmp_path):
    """The depth of a tilted plane n . X = d, seen by a pinhole camera,
    back-projects onto that plane, and the PLY file keeps it."""
    h, w = 48, 64
    fx, fy, cx, cy = intrinsics_from_fov(w, h, 70.0)
    n = np.array([0.2, -0.3, 1.0])
    n /= np.linalg.norm(n)
    d = 2.5
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], -1)
    depth = d / (rays @ n)  # z of the ray's hit with the plane
    rgb = np.random.RandomState(0).randint(0, 256, (h, w, 3), np.uint8)
    depth[0, 0] = 0.0  # no depth: no point
    points, colors = depth_to_points(depth.astype(np.float32),
                                     (fx, fy, cx, cy), rgb)
    assert points.shape == (h * w - 1, 3) and colors.shape == points.shape
    np.testing.assert_allclose(points @ n, d, rtol=1e-5)
    # a least-squares plane through the points has the same normal
    centred = points - points.mean(0)
    normal = np.linalg.svd(centred, full_matrices=False)[2][-1]
    assert abs(abs(normal @ n) - 1) < 1e-6
    np.testing.assert_array_equal(colors[0], rgb[0, 1])

    path = tmp_path / 'sub' / 'plane.ply'
    write_ply(str(path), points, colors)
    vertex = PlyData.read(str(path))['vertex']
    back = np.stack([vertex['x'], vertex['y'], vertex['z']], 1)
    np.testing.assert_array_equal(back, points)
    np.testing.assert_array_equal(
        np.stack([vertex['red'], vertex['green'], vertex['blue']], 1),
        colors)
    assert not list(path.parent.glob('*.tmp'))
    write_ply(str(tmp_path / 'plain.ply'), points)  # colours are optional
    assert PlyData.read(str(tmp_path / 'plain.ply'))['vertex'].count == len(
        points)


def test_intrinsics_and_errors():
    fx, fy, cx, cy = intrinsics_from_fov(640, 480, 63.3)
    assert fx == fy and abs(fx - 518.9) < 1.0  # NYUv2's Kinect
    assert (cx, cy) == (319.5, 239.5)
    with pytest.raises(ValueError, match='field of view'):
        intrinsics_from_fov(64, 48, 180)
    with pytest.raises(ValueError, match='depth must be'):
        depth_to_points(np.zeros((2, 3, 1)), (1, 1, 0, 0))
    with pytest.raises(ValueError, match='differ in size'):
        depth_to_points(np.ones((2, 3)), (1, 1, 0, 0),
                        np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(ValueError, match='points must be'):
        write_ply('unused.ply', np.zeros((4, 2)))
