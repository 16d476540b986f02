"""KITTIDepthDataset on a tiny KITTI-layout tree written at test time."""
import os.path as osp

import cv2
import numpy as np
import pytest

from vpd.datasets import KITTIDepthDataset
from vpd.registry import DATASETS

DRIVE = '2011_09_26_drive_0002_sync'


def _img_rel(frame):
    return f'2011_09_26/{DRIVE}/image_02/data/{frame:010d}.png'


def _gt_rel(frame):
    return f'{DRIVE}/proj_depth/groundtruth/image_02/{frame:010d}.png'


@pytest.fixture
def kitti_root(tmp_path):
    """raw_data/ + data_depth_annotated/val/ with three frames."""
    root = tmp_path / 'kitti'
    depths = {}
    for frame, size in ((5, (375, 1242)), (6, (375, 1242)), (7, (376, 1241))):
        img_path = root / 'raw_data' / _img_rel(frame)
        gt_path = root / 'data_depth_annotated' / 'val' / _gt_rel(frame)
        img_path.parent.mkdir(parents=True, exist_ok=True)
        gt_path.parent.mkdir(parents=True, exist_ok=True)
        img = np.zeros((*size, 3), np.uint8)
        img[:, :, 0] = (np.arange(size[1]) % 256)[None]
        cv2.imwrite(str(img_path), img)
        depth = np.zeros(size, np.uint16)  # sparse LiDAR: mostly empty
        depth[200:, ::7] = 256 * (frame + 1)
        cv2.imwrite(str(gt_path), depth)
        depths[frame] = depth
    # GLPDepth / VPD "eigen_benchmark" format: two fields, leading '/'
    (root / 'eigen_test.txt').write_text(''.join(
        f'/raw_data/{_img_rel(f)} /data_depth_annotated/val/{_gt_rel(f)}\n'
        for f in (5, 6, 7)))
    # BTS format: focal, and a line without ground truth
    (root / 'bts_train.txt').write_text(
        f'{_img_rel(5)} {_gt_rel(5)} 721.5377\n'
        f'{_img_rel(6)} None 721.5377\n'
        f'{_img_rel(7)} {_gt_rel(7)} 721.5377\n')
    return root, depths


def _bts(root, **kwargs):
    return KITTIDepthDataset(
        data_root=str(root),
        ann_file='bts_train.txt',
        data_prefix=dict(
            img_path='raw_data', depth_map_path='data_depth_annotated/val'),
        **kwargs)


def test_eigen_benchmark_format(kitti_root):
    root, _ = kitti_root
    ds = DATASETS.build(
        dict(
            type='KITTIDepthDataset',
            data_root=str(root),
            ann_file='eigen_test.txt',
            test_mode=True))
    assert len(ds) == 3
    info = ds.get_data_info(0)
    assert info['img_path'] == osp.join(str(root), 'raw_data', _img_rel(5))
    assert info['depth_map_path'] == osp.join(str(root),
                                              'data_depth_annotated', 'val',
                                              _gt_rel(5))
    assert info['depth_rescale_factor'] == pytest.approx(1 / 256)
    assert info['seg_fields'] == []
    assert 'focal' not in info


def test_bts_format_skips_missing_gt(kitti_root):
    root, _ = kitti_root
    ds = _bts(root)
    assert len(ds) == 2
    assert ds.get_data_info(0)['focal'] == pytest.approx(721.5377)
    assert ds.get_data_info(1)['img_path'].endswith('0000000007.png')


def test_pipeline_with_kb_crop(kitti_root):
    root, depths = kitti_root
    ds = _bts(
        root,
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadDepthMap'),
            dict(type='KBCrop'),
            dict(type='PackSegInputs'),
        ])
    for idx, frame, (h, w) in ((0, 5, (375, 1242)), (1, 7, (376, 1241))):
        out = ds[idx]
        sample = out['data_samples']
        assert out['inputs'].shape == (3, 352, 1216)
        assert sample.ori_shape == (352, 1216)
        top, left = h - 352, (w - 1216) // 2
        expected = depths[frame][top:top + 352, left:left + 1216] / 256.0
        np.testing.assert_allclose(sample.gt_depth_map.data[0].numpy(),
                                   expected.astype(np.float32))
        # the blue channel encodes the column: the crop starts at `left`
        assert int(out['inputs'][0, 0, 0]) == left % 256


def test_train_pipeline(kitti_root):
    root, _ = kitti_root
    np.random.seed(1)
    ds = _bts(
        root,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadDepthMap'),
            dict(type='KBCrop'),
            dict(type='CutDepth', interval=4, max_depth=80.0),
            dict(type='RandomFlip', prob=0.5),
            dict(type='RandomCrop', crop_size=(352, 352)),
            dict(type='DepthPhotometricAug'),
            dict(type='PackSegInputs'),
        ])
    out = ds[0]
    assert out['inputs'].shape == (3, 352, 352)
    assert out['data_samples'].gt_depth_map.data.shape == (1, 352, 352)


def test_bad_field_count(kitti_root):
    root, _ = kitti_root
    (root / 'bad.txt').write_text(
        f'{_img_rel(5)} {_gt_rel(5)} 721.5 extra\n')
    with pytest.raises(ValueError, match=r'bad\.txt, line 1: expected 2 or 3'):
        KITTIDepthDataset(data_root=str(root), ann_file='bad.txt')


def test_missing_gt_file(kitti_root):
    root, _ = kitti_root
    (root / 'bad.txt').write_text(f'{_img_rel(5)} {_gt_rel(5)}\n'
                                  f'{_img_rel(6)} {_gt_rel(99)}\n')
    with pytest.raises(FileNotFoundError) as err:
        KITTIDepthDataset(
            data_root=str(root),
            ann_file='bad.txt',
            data_prefix=dict(
                img_path='raw_data',
                depth_map_path='data_depth_annotated/val'))
    assert 'bad.txt, line 2' in str(err.value)
    assert '0000000099.png' in str(err.value)


def test_missing_data_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='kitti_missing'):
        KITTIDepthDataset(data_root=str(tmp_path / 'kitti_missing'))


def test_only_missing_gt_is_an_error(kitti_root):
    root, _ = kitti_root
    (root / 'none.txt').write_text(f'{_img_rel(5)} None 721.5\n')
    with pytest.raises(ValueError, match='no usable samples'):
        KITTIDepthDataset(data_root=str(root), ann_file='none.txt')
