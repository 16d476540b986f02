"""ReferringVisualizationHook: one picture per test image, one row per
sentence (caption over input | prediction | ground truth)."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from vpd.engine.hooks import ReferringVisualizationHook
from vpd.visualization import draw_referring_mask, referring_row


def _sample(img_path, text, pred, gt):
    s = SegDataSample(metainfo=dict(img_path=img_path, text=text))
    s.pred_sem_seg = PixelData(data=torch.from_numpy(pred)[None])
    s.gt_sem_seg = PixelData(data=torch.from_numpy(gt)[None])
    return s


def test_rows_per_sentence_and_overlay(tmp_path):
    rgb = np.full((24, 32, 3), 100, np.uint8)
    img = str(tmp_path / 'scene.png')
    cv2.imwrite(img, rgb)
    left = np.zeros((24, 32), np.int64)
    left[4:12, 2:10] = 1
    right = np.zeros((24, 32), np.int64)
    right[4:12, 20:30] = 1
    hook = ReferringVisualizationHook(draw=True, show_dir='vis')
    runner = SimpleNamespace(log_dir=str(tmp_path / 'log'))
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0, {}, [_sample(img, 'the left one', left,
                                                 left)])
    # the ground truth at another size is resized to the prediction's
    hook.after_test_iter(runner, 1, {}, [_sample(
        img, 'the right one', right, np.kron(right, np.ones((2, 2),
                                                            np.int64)))])
    pic = cv2.imread(str(tmp_path / 'log' / 'vis' / 'scene.png'))
    row = referring_row(rgb, left == 1, 'the left one', left == 1)
    row2 = referring_row(rgb, right == 1, 'the right one', right == 1)
    assert pic.shape == (row.shape[0] + row2.shape[0], 3 * 32, 3)
    np.testing.assert_array_equal(
        cv2.cvtColor(pic[row.shape[0]:], cv2.COLOR_BGR2RGB), row2)
    # the first row's prediction panel is the overlay of the first sentence
    want = draw_referring_mask(rgb, left)
    strip = row.shape[0] - 24
    got = cv2.cvtColor(pic[strip:strip + 24, 32:64], cv2.COLOR_BGR2RGB)
    np.testing.assert_allclose(got.astype(int), want.astype(int), atol=2)
    assert (want[8, 5] != rgb[8, 5]).any() and (want[20, 16] ==
                                                rgb[20, 16]).all()
    with pytest.raises(ValueError, match='interval'):
        ReferringVisualizationHook(interval=0)
    with pytest.raises(ValueError, match='opacity'):
        draw_referring_mask(rgb, left, opacity=2)
