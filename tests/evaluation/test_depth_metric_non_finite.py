"""DepthMetric does not report a model with NaN weights as ordinary numbers
(case bugrep-01: NaN predictions became min_depth, d1=0.0000)."""
import logging

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

from vpd.evaluation.metrics import DepthMetric


def _sample(pred, gt, name):
    return dict(pred_depth_map=dict(data=torch.as_tensor(
        pred, dtype=torch.float32)[None]), gt_depth_map=dict(
            data=torch.as_tensor(gt, dtype=torch.float32)[None]),
        img_path=name)


def test_all_nan_predictions_are_an_error():
    metric = DepthMetric()
    gt = np.full((4, 4), 2.0)
    metric.process({}, [_sample(np.full((4, 4), np.nan), gt, 'a.jpg'),
                        _sample(np.full((4, 4), 2.0), gt, 'b.jpg')])
    with pytest.raises(ValueError) as err:
        metric.compute_metrics(metric.results)
    assert 'predictions of 1 of 2 images are NaN/Inf everywhere' in \
        str(err.value) and '"a.jpg"' in str(err.value)


def test_a_few_non_finite_pixels_are_replaced_with_a_warning():
    metric = DepthMetric()
    pred = np.full((4, 4), 2.0)
    pred[0, 0] = np.inf
    metric.process({}, [_sample(pred, np.full((4, 4), 2.0), 'a.jpg')])
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        out = metric.compute_metrics(metric.results)
    finally:
        logger.removeHandler(handler)
    assert 0 < out['d1'] < 1
    assert any('1 of 1 predictions had NaN/Inf pixels' in r.getMessage()
               for r in records)
