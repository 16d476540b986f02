"""COCO keypoint AP of the trivial top-down baseline: the mean pose in every box.

The training set's mean pose is taken in the normalised frame of the crop
the model sees (box -> centre and padded size, widened to the crop's
aspect ratio, as ``TopdownGetBBoxCenterScale`` + ``TopdownAffine``): the
mean of each keypoint's crop position over the training instances where it
is labelled. That pose is put into every evaluation box (the config's test
set: detector boxes or ground-truth boxes) with keypoint score 1 and
scored like the model (box score), then evaluated with the config's
``CocoKeypointMetric``. A model that learned nothing about the image cannot
do better than this on average; the learning checks compare against it.

Usage::

    python tools/analysis_tools/pose_mean_baseline.py CONFIG [--cfg-options k=v ...]
"""
from __future__ import annotations

import argparse
import copy
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)


def _crop_settings(cfg) -> Tuple[Tuple[int, int], bool, float]:
    """Crop size (w, h), UDP flag and box padding of the test pipeline."""
    pipeline = cfg.test_dataloader.dataset.pipeline
    size, udp, padding = None, True, 1.25
    for step in pipeline:
        if step['type'] == 'TopdownAffine':
            size = tuple(step['input_size'])
            udp = bool(step.get('use_udp', True))
        elif step['type'] == 'TopdownGetBBoxCenterScale':
            padding = float(step.get('padding', 1.25))
    if size is None:
        raise ValueError('The config\'s test pipeline has no TopdownAffine')
    return size, udp, padding


def _warp(info: dict, size: Tuple[int, int], udp: bool,
          padding: float) -> Tuple[np.ndarray, np.ndarray]:
    """Warp matrix of a data info's box and the box's padded area."""
    from vpd.datasets.transforms import TopdownAffine, get_warp_matrix
    bbox = np.asarray(info['bbox'], np.float32).reshape(4)
    center = (bbox[:2] + bbox[2:]) / 2
    scale = TopdownAffine.fix_aspect_ratio(
        ((bbox[2:] - bbox[:2]) * padding)[None], size[0] / size[1])[0]
    return get_warp_matrix(center, scale, 0.0, size, udp), scale


def mean_pose_baseline(cfg) -> Dict[str, object]:
    """Fit the mean pose on the training set, evaluate it on the test set.

    Args:
        cfg (mmengine.Config): A top-down pose config.

    Returns:
        dict: ``metrics`` (the metric's dict), ``mean_pose`` (``[K, 2]``
        crop pixels) and ``num_train`` / ``num_test`` instances.
    """
    from vpd.registry import DATASETS, METRICS
    from vpd.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    size, udp, padding = _crop_settings(cfg)
    train_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    train_cfg['pipeline'] = []
    train_set = DATASETS.build(train_cfg)
    total = None
    count = None
    for i in range(len(train_set)):
        info = train_set.get_data_info(i)
        mat, _ = _warp(info, size, udp, padding)
        kpts = np.asarray(info['keypoints'], np.float64)[0]
        vis = np.asarray(info['keypoints_visible'], np.float64)[0] > 0
        crop = kpts @ mat[:, :2].T + mat[:, 2]
        if total is None:
            total = np.zeros_like(crop)
            count = np.zeros(len(crop))
        total[vis] += crop[vis]
        count += vis
    mean_pose = total / np.maximum(count, 1)[:, None]

    test_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    test_cfg['pipeline'] = []
    test_set = DATASETS.build(test_cfg)
    ev_cfg = cfg.test_evaluator
    ev_cfg = copy.deepcopy(ev_cfg[0] if isinstance(ev_cfg, list) else ev_cfg)
    metric = METRICS.build(ev_cfg)
    metric.dataset_meta = test_set.metainfo
    samples: List[dict] = []
    k = len(mean_pose)
    for i in range(len(test_set)):
        info = test_set.get_data_info(i)
        mat, scale = _warp(info, size, udp, padding)
        a = mat[:, :2].astype(np.float64)
        inv = np.linalg.inv(a)
        kpts = (mean_pose - mat[:, 2]) @ inv.T
        samples.append(
            dict(id=info['id'], img_id=info['img_id'],
                 category_id=info.get('category_id', 1),
                 input_scale=scale,
                 pred_instances=dict(
                     keypoints=kpts[None].astype(np.float32),
                     keypoint_scores=np.ones((1, k), np.float32),
                     bbox_scores=np.asarray(info['bbox_score'],
                                            np.float32))))
    metric.process({}, samples)
    metrics = metric.compute_metrics(metric.results)
    return dict(metrics=dict(metrics), mean_pose=mean_pose,
                num_train=len(train_set), num_test=len(test_set))


def main(argv: Optional[List[str]] = None) -> int:
    from mmengine.config import Config, DictAction
    parser = argparse.ArgumentParser(
        description='AP of the mean-pose baseline of a top-down config.')
    parser.add_argument('config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    out = mean_pose_baseline(cfg)
    print(f'mean-pose baseline ({out["num_train"]} training instances, '
          f'{out["num_test"]} test boxes):')
    for name, value in out['metrics'].items():
        print(f'  {name}: {value:.4f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
