"""CocoKeypointMetric on hand-made predictions (pycocotools COCOeval)."""
import json

import numpy as np
import pytest

from vpd.datasets.coco_keypoint_dataset import CocoKeypointDataset
from vpd.evaluation.metrics.coco_keypoint_metric import (CocoKeypointMetric,
                                                         oks_iou, oks_nms)

SIGMAS = np.array(CocoKeypointDataset.METAINFO['sigmas'])


def _pose(rng, x0, y0, scale):
    kp = np.stack([x0 + rng.uniform(0, 0.5, 17) * scale,
                   y0 + rng.uniform(0, 1.0, 17) * scale], 1)
    return kp.astype(np.float32)


@pytest.fixture
def gt_file(tmp_path):
    """Two images, three labelled persons (one with hidden keypoints)."""
    rng = np.random.default_rng(0)
    anns, poses = [], {}
    boxes = {1: (1, 20, 10, 120), 2: (1, 150, 40, 100), 3: (2, 30, 30, 200)}
    for ann_id, (img_id, x0, y0, s) in boxes.items():
        kp = _pose(rng, x0, y0, s)
        v = np.full(17, 2)
        if ann_id == 2:
            v[:3] = 0
        flat = np.concatenate([kp, v[:, None]], 1)
        flat[v == 0] = 0
        poses[ann_id] = (img_id, kp)
        anns.append(dict(id=ann_id, image_id=img_id, category_id=1,
                         keypoints=flat.reshape(-1).tolist(),
                         num_keypoints=int((v > 0).sum()), iscrowd=0,
                         bbox=[x0, y0, s / 2, s], area=0.53 * s * s / 2))
    coco = dict(images=[dict(id=1, file_name='a.jpg', width=400, height=300),
                        dict(id=2, file_name='b.jpg', width=400, height=300)],
                annotations=anns,
                categories=[dict(id=1, name='person')])
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(coco))
    return str(path), poses


def _metric(path, **kwargs):
    metric = CocoKeypointMetric(ann_file=path, **kwargs)
    metric.dataset_meta = dict(CocoKeypointDataset.METAINFO)
    return metric


def _sample(inst_id, img_id, kp, score=1.0, kscore=0.9, scale=(60, 120)):
    return dict(id=inst_id, img_id=img_id, category_id=1,
                input_scale=np.array(scale, np.float32),
                pred_instances=dict(
                    keypoints=kp[None],
                    keypoint_scores=np.full((1, 17), kscore, np.float32),
                    bbox_scores=np.array([score], np.float32)))


def test_perfect_keypoints_give_ap_one(gt_file):
    path, poses = gt_file
    metric = _metric(path)
    metric.process({}, [_sample(i, img, kp) for i, (img, kp) in
                        poses.items()])
    res = metric.evaluate(len(poses))
    assert res['coco/AP'] == pytest.approx(1.0)
    assert res['coco/AP50'] == pytest.approx(1.0)
    assert res['coco/AR'] == pytest.approx(1.0)
    assert set(res) >= {f'coco/{k}' for k in ('AP', 'AP50', 'AP75', 'APm',
                                                'APl', 'AR')}


def test_worse_keypoints_and_a_missing_person(gt_file):
    path, poses = gt_file
    metric = _metric(path)
    rng = np.random.default_rng(1)
    samples = [_sample(i, img, kp + rng.normal(0, 6, kp.shape).astype(
        np.float32)) for i, (img, kp) in poses.items() if i != 3]
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    assert 0.0 < res['coco/AP'] < 0.9
    assert res['coco/AR'] < 2 / 3 + 1e-6


def test_oks_nms_drops_duplicates_and_writes_results(gt_file, tmp_path):
    path, poses = gt_file
    img, kp = poses[1]
    out = tmp_path / 'out'
    metric = _metric(path, output_dir=str(out))
    metric.process({}, [_sample(1, img, kp, score=0.9),
                        _sample(10, img, kp + 0.5, score=0.5),
                        _sample(1, img, kp, score=0.9),  # same id twice
                        _sample(2, *poses[2])])
    metric.evaluate(4)
    results = json.loads((out / 'keypoint_results.json').read_text())
    assert len(results) == 2  # the duplicate id and the near copy removed
    first = min(results, key=lambda r: r['score'])
    assert set(first) == {'image_id', 'category_id', 'keypoints', 'score'}
    assert len(first['keypoints']) == 51
    # rescoring: box score x mean keypoint score above 0.2
    assert first['score'] == pytest.approx(0.9 * 0.9)
    np.testing.assert_allclose(
        np.array(first['keypoints']).reshape(17, 3)[:, :2], kp, atol=1e-4)


def test_oks_helpers():
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 100, (17, 2))
    same = oks_iou(a, a[None], 5000, np.array([5000.]), SIGMAS)
    assert same[0] == pytest.approx(1.0)
    poses = np.stack([a, a + 1, a + 80])
    keep = oks_nms(poses, np.array([0.5, 0.9, 0.7]), np.full(3, 5000.),
                   0.9, SIGMAS)
    assert keep == [1, 2]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='ann_file'):
        CocoKeypointMetric()
    with pytest.raises(ValueError, match='score_mode'):
        CocoKeypointMetric(ann_file='x.json', score_mode='best')
    metric = _metric(str(tmp_path / 'absent.json'))
    metric.process({}, [_sample(1, 1, np.zeros((17, 2), np.float32))])
    with pytest.raises(FileNotFoundError, match='absent.json'):
        metric.evaluate(1)
