"""CocoKeypointDataset on generated COCO-layout fixtures, bad input incl."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from _tools import load_tool  # noqa: E402
from vpd.registry import DATASETS

ANN = 'annotations/person_keypoints_train2017.json'
VAL = 'annotations/person_keypoints_val2017.json'
DET = 'person_detection_results/synthetic_val2017_detections.json'


@pytest.fixture(scope='module')
def pose_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_pose'))
    load_tool('dataset_converters', 'make_synthetic_pose').make_synthetic_pose(
        root, num_train=6, num_val=3, size=64, max_persons=2, seed=1)
    return root


def _build(root, **kwargs):
    cfg = dict(type='CocoKeypointDataset', data_root=root, ann_file=ANN,
               data_prefix=dict(img='train2017/'), pipeline=[],
               serialize_data=False)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def _write(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f)


def test_ground_truth_parsing(pose_root):
    ds = _build(pose_root)
    with open(osp.join(pose_root, ANN)) as f:
        coco = json.load(f)
    kept = [a for a in coco['annotations'] if a['num_keypoints'] > 0]
    assert len(ds) == len(kept) > 0
    info = ds[0]
    ann = kept[0]
    assert info['id'] == ann['id'] and info['img_id'] == ann['image_id']
    assert info['keypoints'].shape == (1, 17, 2)
    kp = np.array(ann['keypoints'], np.float32).reshape(17, 3)
    np.testing.assert_allclose(info['keypoints'][0], kp[:, :2])
    np.testing.assert_array_equal(info['keypoints_visible'][0],
                                  np.minimum(kp[:, 2], 1))
    x, y, w, h = ann['bbox']
    np.testing.assert_allclose(
        info['bbox'][0], [x, y, min(x + w, 63), min(y + h, 63)], atol=1e-4)
    assert info['area'] == pytest.approx(ann['area'])
    assert info['flip_indices'][1] == 2 and len(info['upper_body_ids']) == 11
    assert osp.isfile(info['img_path'])
    assert ds.metainfo['num_keypoints'] == 17
    assert len(ds.metainfo['sigmas']) == 17


def test_detections_for_evaluation(pose_root):
    ds = _build(pose_root, ann_file=VAL, bbox_file=DET, test_mode=True,
                data_prefix=dict(img='val2017/'))
    with open(osp.join(pose_root, DET)) as f:
        dets = json.load(f)
    assert 0 < len(ds) <= len(dets)
    info = ds[0]
    assert info['bbox_score'][0] == pytest.approx(dets[0]['score'])
    assert not info['keypoints'].any()
    thr = _build(pose_root, ann_file=VAL, bbox_file=DET, test_mode=True,
                 data_prefix=dict(img='val2017/'), bbox_score_thr=0.55)
    assert len(thr) == sum(d['score'] >= 0.55 for d in dets)
    with pytest.raises(ValueError, match='evaluation only'):
        _build(pose_root, bbox_file=DET)


def test_bad_inputs(pose_root, tmp_path):
    with open(osp.join(pose_root, ANN)) as f:
        coco = json.load(f)
    # wrong number of keypoints: error naming the file and the ids
    bad = json.loads(json.dumps(coco))
    bad['annotations'][1]['keypoints'] = bad['annotations'][1][
        'keypoints'][:-3]
    path = str(tmp_path / 'bad_kpts.json')
    _write(path, bad)
    ann_id = bad['annotations'][1]['id']
    with pytest.raises(ValueError, match=rf'bad_kpts.json.*annotation id '
                       rf'{ann_id} .*48 keypoint values, expected 51'):
        _build(pose_root, ann_file=path)
    # missing image: error naming the image id and the file
    missing = json.loads(json.dumps(coco))
    missing['images'][0]['file_name'] = 'nowhere.jpg'
    path = str(tmp_path / 'missing.json')
    _write(path, missing)
    img_id = missing['images'][0]['id']
    with pytest.raises(FileNotFoundError,
                       match=rf'image id {img_id} .*nowhere.jpg'):
        _build(pose_root, ann_file=path)
    # a box outside its image: skipped and counted in one warning
    outside = json.loads(json.dumps(coco))
    outside['annotations'][0]['bbox'] = [500, 500, 20, 40]
    path = str(tmp_path / 'outside.json')
    _write(path, outside)
    ds = _build(pose_root, ann_file=path)
    assert len(ds) == len(_build(pose_root)) - 1
    assert outside['annotations'][0]['id'] not in [
        ds[i]['id'] for i in range(len(ds))]
    # an empty detections file
    empty = str(tmp_path / 'empty.json')
    _write(empty, [])
    with pytest.raises(ValueError, match='empty.json.*is empty'):
        _build(pose_root, ann_file=VAL, bbox_file=empty, test_mode=True,
               data_prefix=dict(img='val2017/'))
    # a detection of an image the annotation file does not list
    stray = str(tmp_path / 'stray.json')
    _write(stray, [dict(image_id=999, category_id=1, bbox=[1, 1, 5, 5],
                        score=0.9)])
    with pytest.raises(ValueError, match='detection 0 names image id 999'):
        _build(pose_root, ann_file=VAL, bbox_file=stray, test_mode=True,
               data_prefix=dict(img='val2017/'))


def test_outside_box_warning_names_ids(pose_root, tmp_path, monkeypatch):
    import vpd.datasets.coco_keypoint_dataset as mod
    logged = []
    monkeypatch.setattr(mod, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    dets = [dict(image_id=1, category_id=1, bbox=[200, 10, 5, 5], score=.9),
            dict(image_id=1, category_id=1, bbox=[5, 5, 20, 30], score=.8)]
    path = str(tmp_path / 'dets.json')
    _write(path, dets)
    ds = _build(pose_root, ann_file=VAL, bbox_file=path, test_mode=True,
                data_prefix=dict(img='val2017/'))
    assert len(ds) == 1
    assert 'skipped 1 box(es) that lie outside their image: detection 0 ' \
        '(image id 1)' in ' '.join(logged)


def test_pipeline_error_names_the_sample(pose_root, tmp_path):
    ds = _build(pose_root, pipeline=[dict(type='LoadImageFromFile')])
    info = ds.get_data_info(0)
    os.rename(info['img_path'], info['img_path'] + '.bak')
    try:
        with pytest.raises(RuntimeError,
                           match=rf'image id {info["img_id"]}, instance id '
                           rf'{info["id"]}'):
            ds[0]
    finally:
        os.rename(info['img_path'] + '.bak', info['img_path'])
