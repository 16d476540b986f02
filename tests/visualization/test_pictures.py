"""Colour bar, segmentation overlay, and one output name per image."""
import os.path as osp

import numpy as np
import pytest
from matplotlib import colormaps

from vpd.visualization import (colorize_depth, colorize_depth_with_colorbar,
                               overlay_segmentation, unique_output_path)


def test_colorbar_spans_the_range_in_metres():
    depth = np.tile(np.linspace(1.0, 4.0, 64, dtype=np.float32), (48, 1))
    out = colorize_depth_with_colorbar(depth)
    k = 6  # 48 px high is enlarged to >= 256 (x6) for legible ticks
    assert out.shape[0] == 48 * k and out.shape[1] > 64 * k
    # the image part is colorize_depth's, enlarged
    np.testing.assert_array_equal(out[::k, :64 * k:k], colorize_depth(depth))
    # the bar holds the colour map's both ends (near: bright, far: dark)
    bar = out[:, 64 * k:].reshape(-1, 3).astype(int)
    cmap = colormaps['magma_r']
    for end in (0.0, 1.0):
        want = (np.array(cmap(end)[:3]) * 255).astype(int)
        assert np.abs(bar - want).sum(1).min() <= 6, end


def test_overlay_segmentation():
    rgb = np.full((4, 5, 3), 100, np.uint8)
    labels = np.zeros((4, 5), np.int64)
    labels[0, 0], labels[1, 1] = 1, 255
    out = overlay_segmentation(rgb, labels, [(0, 0, 0), (200, 0, 0)], 0.5)
    assert tuple(out[0, 0]) == (150, 50, 50) and tuple(out[2, 2]) == (50,) * 3
    assert tuple(out[1, 1]) == (100,) * 3  # ignored: untouched
    with pytest.raises(ValueError, match='differ in size'):
        overlay_segmentation(rgb, labels[:2], [(0, 0, 0)])


def test_unique_output_path_is_dir_stem_png():
    taken = {}
    assert unique_output_path('D', '/data/x/room_1.jpg', taken) == osp.join(
        'D', 'room_1.png')
    # the same image again (a second test pass): the same name
    assert unique_output_path('D', '/data/x/room_1.jpg', taken) == osp.join(
        'D', 'room_1.png')
    # the same stem in the same folder: the extension tells them apart
    assert unique_output_path('D', '/data/x/room_1.png', taken) == osp.join(
        'D', 'room_1_png.png')
    # KITTI: the same file name in another drive folder
    assert unique_output_path('D', '/k/drive_a/data/0069.png',
                              taken) == osp.join('D', '0069.png')
    assert unique_output_path('D', '/k/drive_b/data/0069.png',
                              taken) == osp.join('D', 'data_0069.png')
    assert unique_output_path('D', '/k/drive_c/data/0069.png',
                              taken) == osp.join('D',
                                                 'drive_c_data_0069.png')
    assert unique_output_path('D', None, taken, fallback='3') == osp.join(
        'D', '3.png')
    assert unique_output_path('D', None, taken, fallback='3') == osp.join(
        'D', '3_1.png')
