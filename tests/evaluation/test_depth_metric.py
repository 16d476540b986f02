"""DepthMetric against values computed by hand on small arrays."""
import math
import os

import cv2
import numpy as np
import pytest
import torch

from vpd.evaluation import DepthMetric
from vpd.registry import METRICS


def _sample(pred, gt=None, img_path='scene_0001/rgb_00001.jpg', **meta):
    sample = dict(
        pred_depth_map=dict(data=torch.as_tensor(pred, dtype=torch.float32)
                            [None]),
        img_path=img_path,
        **meta)
    if gt is not None:
        sample['gt_depth_map'] = dict(
            data=torch.as_tensor(gt, dtype=torch.float32)[None])
    return sample


def _by_hand(pred, gt, lam=0.5, scale=1.0):
    """The nine metrics with plain Python arithmetic over valid pixels."""
    n = len(gt)
    ratios = [max(p / g, g / p) for p, g in zip(pred, gt)]
    logs = [math.log(p) - math.log(g) for p, g in zip(pred, gt)]
    mean_log = sum(logs) / n
    return {
        'd1': sum(r < 1.25 for r in ratios) / n,
        'd2': sum(r < 1.25**2 for r in ratios) / n,
        'd3': sum(r < 1.25**3 for r in ratios) / n,
        'abs_rel': sum(abs(p - g) / g for p, g in zip(pred, gt)) / n,
        'sq_rel': sum((p - g)**2 / g for p, g in zip(pred, gt)) / n,
        'rmse': math.sqrt(sum((p - g)**2 for p, g in zip(pred, gt)) / n),
        'rmse_log': math.sqrt(sum(e * e for e in logs) / n),
        'log10': sum(abs(math.log10(p) - math.log10(g))
                     for p, g in zip(pred, gt)) / n,
        'silog': scale * math.sqrt(
            sum(e * e for e in logs) / n - lam * mean_log**2),
    }


def _evaluate(metric, samples):
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_registry_scopes():
    assert METRICS.get('DepthMetric') is DepthMetric
    mmseg_cls = METRICS.get('mmseg.DepthMetric')
    assert mmseg_cls is not DepthMetric
    assert mmseg_cls.__module__.startswith('mmseg.')


def test_closed_form_double_prediction():
    gt = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = _evaluate(DepthMetric(), [_sample(2 * gt, gt)])
    log2 = math.log(2)
    assert out['d1'] == 0 and out['d2'] == 0 and out['d3'] == 0
    assert out['abs_rel'] == pytest.approx(1.0)
    assert out['sq_rel'] == pytest.approx(2.5)  # mean(gt)
    assert out['rmse'] == pytest.approx(math.sqrt(7.5))  # sqrt(mean(gt^2))
    assert out['rmse_log'] == pytest.approx(log2)
    assert out['log10'] == pytest.approx(math.log10(2))
    assert out['silog'] == pytest.approx(log2 / math.sqrt(2))


def test_every_metric_by_hand():
    gt = [1.0, 2.0, 4.0, 5.0, 0.5, 3.0]
    pred = [1.1, 1.5, 5.5, 5.0, 0.9, 2.0]
    out = _evaluate(
        DepthMetric(),
        [_sample(np.reshape(pred, (2, 3)), np.reshape(gt, (2, 3)))])
    expected = _by_hand(pred, gt)
    assert set(out) == set(DepthMetric.METRICS)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, rel=1e-6), key
    # ratios 1.1, 1.333, 1.375, 1, 1.8, 1.5 -> d1 2/6, d2 5/6, d3 6/6
    assert out['d1'] == pytest.approx(2 / 6)
    assert out['d2'] == pytest.approx(5 / 6)
    assert out['d3'] == pytest.approx(1.0)


def test_kitti_benchmark_silog_option():
    gt = [1.0, 2.0, 4.0, 5.0]
    pred = [1.1, 1.5, 5.5, 5.0]
    out = _evaluate(
        DepthMetric(silog_lambda=1.0, silog_scale=100.0),
        [_sample(np.reshape(pred, (2, 2)), np.reshape(gt, (2, 2)))])
    assert out['silog'] == pytest.approx(
        _by_hand(pred, gt, lam=1.0, scale=100.0)['silog'])


def test_valid_mask_bounds_are_exclusive():
    gt = np.array([[0.0, 1e-3, 2.0, 10.0, 12.0, 4.0]])
    pred = np.array([[5.0, 5.0, 3.0, 5.0, 5.0, 4.0]])
    out = _evaluate(DepthMetric(min_depth=1e-3, max_depth=10.0),
                    [_sample(pred, gt)])
    expected = _by_hand([3.0, 4.0], [2.0, 4.0])  # only gt 2 and 4 count
    for key, value in expected.items():
        assert out[key] == pytest.approx(value), key


def test_prediction_clamped_and_non_finite_replaced():
    gt = np.array([[2.0, 2.0, 2.0, 2.0]])
    pred = np.array([[0.0, float('nan'), float('inf'), 50.0]])
    out = _evaluate(DepthMetric(min_depth=0.5, max_depth=10.0),
                    [_sample(pred, gt)])
    expected = _by_hand([0.5, 0.5, 10.0, 10.0], [2.0] * 4)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value), key


def test_mean_over_images_not_pixels():
    gt1, pred1 = np.full((1, 1), 2.0), np.full((1, 1), 3.0)  # 1 pixel
    gt2, pred2 = np.full((3, 3), 2.0), np.full((3, 3), 2.0)  # 9 pixels
    out = _evaluate(DepthMetric(), [_sample(pred1, gt1), _sample(pred2, gt2)])
    assert out['abs_rel'] == pytest.approx((0.5 + 0.0) / 2)
    assert out['rmse'] == pytest.approx((1.0 + 0.0) / 2)
    assert out['d1'] == pytest.approx(0.5)


def test_image_without_valid_pixels_is_skipped():
    metric = DepthMetric()
    out = _evaluate(metric, [
        _sample(np.ones((2, 2)), np.zeros((2, 2)), img_path='a/empty.jpg'),
        _sample(np.full((2, 2), 3.0), np.full((2, 2), 2.0)),
    ])
    assert out['abs_rel'] == pytest.approx(0.5)
    with pytest.raises(ValueError, match='no image had valid ground truth'):
        _evaluate(DepthMetric(), [_sample(np.ones((2, 2)), np.zeros((2, 2)))])


def test_eigen_crop_nyu():
    metric = DepthMetric(crop_type='eigen')
    mask = metric.crop_mask(480, 640)
    assert int(mask.sum()) == (471 - 45) * (601 - 41)
    assert mask[45, 41] and mask[470, 600]
    assert not mask[44, 41] and not mask[45, 40]
    assert not mask[471, 100] and not mask[100, 601]
    gt = np.full((480, 640), 2.0)
    pred = np.full((480, 640), 7.0)
    pred[45:471, 41:601] = 2.0  # wrong only outside the crop
    out = _evaluate(metric, [_sample(pred, gt)])
    assert out['rmse'] == pytest.approx(0.0, abs=1e-9)
    assert out['d1'] == 1.0
    out = _evaluate(DepthMetric(crop_type=None), [_sample(pred, gt)])
    assert out['rmse'] > 0.1
    # mmseg's name is accepted as an alias
    assert DepthMetric(crop_type='nyu_crop').crop_type == 'eigen'


def test_eigen_crop_other_size_scales():
    mask = DepthMetric(crop_type='eigen').crop_mask(96, 128)
    rows = torch.where(mask.any(1))[0]
    cols = torch.where(mask.any(0))[0]
    assert (int(rows[0]), int(rows[-1]) + 1) == (45 * 96 // 480,
                                                 471 * 96 // 480)
    assert (int(cols[0]), int(cols[-1]) + 1) == (41 * 128 // 640,
                                                 601 * 128 // 640)


def test_garg_crop_kitti():
    metric = DepthMetric(max_depth=80.0, crop_type='garg')
    mask = metric.crop_mask(352, 1216)
    rows = torch.where(mask.any(1))[0]
    cols = torch.where(mask.any(0))[0]
    # int(0.40810811*352)=143, int(0.99189189*352)=349,
    # int(0.03594771*1216)=43, int(0.96405229*1216)=1172
    assert (int(rows[0]), int(rows[-1]) + 1) == (143, 349)
    assert (int(cols[0]), int(cols[-1]) + 1) == (43, 1172)
    assert int(mask.sum()) == (349 - 143) * (1172 - 43)
    kitti_eigen = DepthMetric(crop_type='kitti_eigen').crop_mask(352, 1216)
    rows = torch.where(kitti_eigen.any(1))[0]
    assert (int(rows[0]), int(rows[-1]) + 1) == (int(0.3324324 * 352),
                                                 int(0.91351351 * 352))


def test_shape_mismatch_names_image():
    with pytest.raises(ValueError, match='a/rgb_7.jpg'):
        _evaluate(DepthMetric(), [
            _sample(np.ones((2, 3)), np.ones((3, 2)), img_path='a/rgb_7.jpg')
        ])


def test_missing_keys():
    metric = DepthMetric()
    with pytest.raises(KeyError, match='gt_depth_map'):
        metric.process({}, [_sample(np.ones((2, 2)))])
    with pytest.raises(KeyError, match='pred_depth_map'):
        metric.process({}, [dict(img_path='x.jpg')])


def test_bad_arguments():
    with pytest.raises(ValueError, match='crop_type'):
        DepthMetric(crop_type='center')
    with pytest.raises(ValueError, match='unknown metric'):
        DepthMetric(metrics=['rmse', 'mae'])
    with pytest.raises(ValueError, match='output_dir'):
        DepthMetric(format_only=True)
    with pytest.raises(ValueError, match='min_depth'):
        DepthMetric(min_depth=5, max_depth=1)


def test_metric_subset():
    gt = np.full((2, 2), 2.0)
    out = _evaluate(DepthMetric(metrics=['rmse', 'd1']),
                    [_sample(gt + 1, gt)])
    assert list(out) == ['rmse', 'd1']


def test_output_dir_writes_atomic_millimetre_pngs(tmp_path):
    out_dir = tmp_path / 'preds'
    pred = np.array([[1.0, 2.5], [0.1234, 9.9]])
    metric = DepthMetric(output_dir=str(out_dir))
    _evaluate(metric, [
        _sample(pred, pred, img_path='/d/sync/bedroom_0001/rgb_00001.jpg',
                img_id='bedroom_0001/rgb_00001'),
        _sample(pred, pred, img_path='/d/official_splits/test/bathroom/'
                'rgb_00045.jpg'),
    ])
    first = out_dir / 'bedroom_0001' / 'rgb_00001.png'
    second = out_dir / 'bathroom_rgb_00045.png'  # <parent>_<stem> fallback
    for path in (first, second):
        png = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint16
        np.testing.assert_array_equal(png, [[1000, 2500], [123, 9900]])
    leftovers = [
        f for _, _, files in os.walk(out_dir) for f in files
        if f.endswith('.tmp')
    ]
    assert leftovers == []


def test_format_only_needs_no_ground_truth(tmp_path):
    metric = DepthMetric(
        output_dir=str(tmp_path), format_only=True, output_depth_scale=256.0)
    out = _evaluate(metric,
                    [_sample(np.full((2, 2), 2.0), img_path='x/y.png')])
    assert out == {}
    png = cv2.imread(str(tmp_path / 'x_y.png'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(png, np.full((2, 2), 512))


def test_results_are_per_image_scalars():
    metric = DepthMetric()
    metric.process({}, [_sample(np.full((4, 4), 3.0), np.full((4, 4), 2.0))])
    assert len(metric.results) == 1
    assert all(isinstance(v, float) for v in metric.results[0].values())
