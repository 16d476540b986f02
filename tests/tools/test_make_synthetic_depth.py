"""tools/dataset_converters/make_synthetic_depth.py: layout, range, seeds."""
import hashlib
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from _tools import load_tool  # noqa: E402

from vpd.datasets import (NYU_SCENE_CLASSES, NYUDepthDataset,
                          get_nyu_scene_index)


synth = load_tool('dataset_converters', 'make_synthetic_depth')
KW = dict(num_train=12, num_test=4, height=24, width=32, views_per_scene=4)


def _digest(root):
    h = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = osp.join(folder, name)
            h.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('synth')
    train, test = synth.make_synthetic_depth(str(root), seed=0, **KW)
    return root, train, test


def test_scene_classes_match_vpd():
    assert synth.NYU_SCENE_CLASSES == NYU_SCENE_CLASSES
    assert 'study_room' not in synth.SCENE_TYPES
    assert 'office_kitchen' not in synth.SCENE_TYPES
    assert len(synth.SCENE_TYPES) == 25


def test_layout_and_split_files(small_set):
    root, train, test = small_set
    assert train == osp.join(str(root), 'train_list.txt')
    assert test == osp.join(str(root), 'test_list.txt')
    train_lines = open(train).read().splitlines()
    test_lines = open(test).read().splitlines()
    assert len(train_lines) == 12 and len(test_lines) == 4
    for prefix, lines in (('sync', train_lines),
                          ('official_splits/test', test_lines)):
        for line in lines:
            img, depth = line.split()
            assert img.startswith('/') and depth.startswith('/')
            assert osp.isfile(osp.join(str(root), prefix, img[1:]))
            assert osp.isfile(osp.join(str(root), prefix, depth[1:]))
    # train folders are <type>_<nnnn>, test folders the bare type
    train_folder = train_lines[0].split('/')[1]
    assert train_folder.rsplit('_', 1)[1].isdigit()
    test_folder = test_lines[0].split('/')[1]
    assert test_folder in NYU_SCENE_CLASSES


def test_scene_lookup_returns_folder_type(small_set):
    root, train, test = small_set
    for split_file in (train, test):
        for line in open(split_file).read().splitlines():
            img = line.split()[0]
            folder = img.split('/')[1]
            index = get_nyu_scene_index(img)
            assert index >= 0
            assert folder.startswith(NYU_SCENE_CLASSES[index])


def test_images_and_depth_ranges(small_set):
    root, train, _ = small_set
    for line in open(train).read().splitlines():
        img_rel, depth_rel = line.split()
        img = cv2.imread(osp.join(str(root), 'sync', img_rel[1:]))
        depth = cv2.imread(
            osp.join(str(root), 'sync', depth_rel[1:]), cv2.IMREAD_UNCHANGED)
        assert img.shape == (24, 32, 3)
        assert depth.dtype == np.uint16 and depth.shape == (24, 32)
        assert depth.min() >= 500 and depth.max() <= 10000
        assert img.std() > 5  # shaded and textured, not flat


def test_depth_is_visible_in_the_image(tmp_path):
    """Brightness falls with distance (headlight), so depth is learnable."""
    _, split = synth.make_synthetic_depth(
        str(tmp_path), num_train=0, num_test=20, height=48, width=64,
        seed=3, views_per_scene=5)
    grays, depths = [], []
    for line in open(split).read().splitlines():
        img_rel, depth_rel = line.split()
        base = osp.join(str(tmp_path), 'official_splits', 'test')
        grays.append(cv2.imread(base + img_rel, cv2.IMREAD_GRAYSCALE))
        depths.append(cv2.imread(base + depth_rel, cv2.IMREAD_UNCHANGED))
    gray = np.concatenate([g.ravel() for g in grays]).astype(float)
    depth = np.concatenate([d.ravel() for d in depths]).astype(float)
    assert np.corrcoef(gray, np.log(depth))[0, 1] < -0.3


def test_deterministic(small_set, tmp_path):
    root, _, _ = small_set
    synth.make_synthetic_depth(str(tmp_path / 'again'), seed=0, **KW)
    assert _digest(str(tmp_path / 'again')) == _digest(str(root))
    synth.make_synthetic_depth(str(tmp_path / 'other'), seed=1, **KW)
    assert _digest(str(tmp_path / 'other')) != _digest(str(root))


def test_loads_with_nyu_dataset(small_set):
    root, _, _ = small_set
    train = NYUDepthDataset(
        data_root=str(root),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadDepthMap'),
                  dict(type='PackSegInputs')])
    test = NYUDepthDataset(
        data_root=str(root),
        ann_file='test_list.txt',
        data_prefix=dict(
            img_path='official_splits/test',
            depth_map_path='official_splits/test'),
        test_mode=True)
    assert len(train) == 12 and len(test) == 4
    gt = train[0]['data_samples'].gt_depth_map.data
    assert gt.shape == (1, 24, 32)
    assert 0.5 <= float(gt.min()) and float(gt.max()) <= 10.0


def test_cli(tmp_path):
    train, test = synth.main([
        str(tmp_path), '--num-train', '3', '--num-test', '2', '--height',
        '16', '--width', '20', '--seed', '7'
    ])
    assert len(open(train).read().splitlines()) == 3
    assert len(open(test).read().splitlines()) == 2


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        synth.make_synthetic_depth(str(tmp_path), num_train=-1)
    with pytest.raises(ValueError, match='too small'):
        synth.make_synthetic_depth(str(tmp_path), height=4, width=4)
