"""ReferringMetric against hand-computed oIoU / mIoU / precision."""
import os.path as osp

import numpy as np
import pytest
import torch

from vpd.evaluation import ReferringMetric


def _sample(pred, gt, pred_input=None, **meta):
    s = dict(pred_sem_seg=dict(data=torch.as_tensor(pred)[None]),
             gt_sem_seg=dict(data=torch.as_tensor(gt)[None]), **meta)
    if pred_input is not None:
        s['pred_sem_seg_input'] = dict(data=torch.as_tensor(pred_input)[None])
    return s


def _box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.int64)
    m[y0:y1, x0:x1] = 1
    return m


def test_values_by_hand():
    gt1, pred1 = _box(4, 4, 0, 2, 0, 2), _box(4, 4, 0, 2, 0, 1)  # I 2 U 4
    gt2, pred2 = _box(4, 4, 0, 4, 0, 4), _box(4, 4, 0, 4, 0, 3)  # I 12 U 16
    gt3, pred3 = _box(4, 4, 0, 1, 0, 1), _box(4, 4, 3, 4, 3, 4)  # I 0 U 2
    gt4 = pred4 = np.zeros((4, 4), np.int64)  # U = 0: IoU 0 (reference)
    metric = ReferringMetric(resolution='original')
    metric.process({}, [_sample(pred1, gt1), _sample(pred2, gt2)])
    metric.process({}, [_sample(pred3, gt3), _sample(pred4, gt4)])
    assert metric.results == [(2, 4), (12, 16), (0, 2), (0, 0)]
    out = metric.compute_metrics(metric.results)
    # oIoU = (2 + 12 + 0 + 0) / (4 + 16 + 2 + 0); IoUs 0.5, 0.75, 0, 0
    assert out['oIoU'] == pytest.approx(100 * 14 / 22)
    assert out['mIoU'] == pytest.approx(100 * (0.5 + 0.75) / 4)
    assert out['P@0.5'] == pytest.approx(50.0)
    assert out['P@0.6'] == out['P@0.7'] == pytest.approx(25.0)
    assert out['P@0.8'] == out['P@0.9'] == 0.0
    assert list(out) == ['oIoU', 'mIoU', 'P@0.5', 'P@0.6', 'P@0.7', 'P@0.8',
                         'P@0.9']


def test_input_resolution_resizes_gt_with_pillow_nearest():
    """Official protocol: the network-size prediction against the mask
    resized by Pillow (nearest), not the original-size one."""
    from PIL import Image
    rng = np.random.default_rng(0)
    gt = (rng.random((5, 7)) > 0.5).astype(np.int64)
    pred_in = (rng.random((4, 4)) > 0.5).astype(np.int64)
    small = np.asarray(Image.fromarray(gt.astype(np.uint8)).resize(
        (4, 4), Image.NEAREST)).astype(bool)
    metric = ReferringMetric()  # resolution='input'
    metric.process({}, [_sample(np.zeros((5, 7)), gt, pred_in)])
    p = pred_in.astype(bool)
    assert metric.results == [(int((p & small).sum()), int((p | small).sum()))]
    with pytest.raises(KeyError, match='pred_sem_seg_input'):
        metric.process({}, [_sample(np.zeros((5, 7)), gt)])
    with pytest.raises(ValueError, match='after Resize'):
        ReferringMetric(resolution='original').process(
            {}, [_sample(pred_in, gt)])


def test_output_dir_and_arguments(tmp_path):
    metric = ReferringMetric(resolution='original', output_dir=str(tmp_path),
                             format_only=True)
    metric.process({}, [_sample(_box(4, 4, 0, 2, 0, 2), _box(4, 4, 0, 1, 0,
                                                             1),
                                ref_id=7, sent_id=3)])
    assert metric.results == []
    import cv2
    png = cv2.imread(osp.join(str(tmp_path), '7_3.png'), cv2.IMREAD_UNCHANGED)
    assert png.shape == (4, 4) and set(np.unique(png)) == {0, 255}
    with pytest.raises(ValueError, match='resolution'):
        ReferringMetric(resolution='512')
    with pytest.raises(ValueError, match='output_dir'):
        ReferringMetric(format_only=True)
