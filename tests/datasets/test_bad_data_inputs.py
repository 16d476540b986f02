"""Bad data files fail with the file (and split line) and what was expected:
depth maps of the wrong dtype or without data (rel-05), split files that are
not UTF-8, segmentation labels outside the classes (rel-09)."""
import logging
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.logging import MMLogger

from vpd.datasets import NYUDepthDataset
from vpd.datasets.transforms import LoadDepthMap

H, W = 8, 12


@pytest.fixture
def nyu(tmp_path):
    """A two-image NYU test split (uint16 millimetre depth maps)."""
    root = tmp_path / 'nyu'
    folder = root / 'official_splits' / 'test' / 'bathroom'
    folder.mkdir(parents=True)
    lines = []
    for i in (1, 2):
        cv2.imwrite(str(folder / f'rgb_{i:05d}.jpg'),
                    np.full((H, W, 3), 100, np.uint8))
        cv2.imwrite(str(folder / f'sync_depth_{i:05d}.png'),
                    np.full((H, W), 2500, np.uint16))
        lines.append(f'/bathroom/rgb_{i:05d}.jpg '
                     f'/bathroom/sync_depth_{i:05d}.png')
    (root / 'test_list.txt').write_text('\n'.join(lines) + '\n')
    return root


def _dataset(root, **kwargs):
    return NYUDepthDataset(
        data_root=str(root), ann_file='test_list.txt', test_mode=True,
        data_prefix=dict(img_path='official_splits/test',
                         depth_map_path='official_splits/test'),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadDepthMap'),
                  dict(type='PackSegInputs')], **kwargs)


@pytest.mark.parametrize('dtype,expected', [
    (np.uint8, 'is uint8, expected uint16 (stored value x 1/1000 = metres)'),
    (np.float32, 'is float32, expected uint16'),
])
def test_depth_map_of_the_wrong_dtype_names_file_line_and_scale(
        nyu, dtype, expected):
    """An 8-bit PNG (mm // 40) was read as 0..0.255 m (rel-05)."""
    depth = nyu / 'official_splits' / 'test' / 'bathroom' / \
        'sync_depth_00002.png'
    if dtype == np.float32:
        depth = depth.with_suffix('.tiff')
        text = (nyu / 'test_list.txt').read_text()
        (nyu / 'test_list.txt').write_text(text.replace(
            'sync_depth_00002.png', 'sync_depth_00002.tiff'))
    cv2.imwrite(str(depth), np.full((H, W), 62, dtype))
    ds = _dataset(nyu)
    ds[0]  # the uint16 map is fine
    with pytest.raises(RuntimeError) as err:
        ds[1]
    message = str(err.value)
    assert 'test_list.txt, line 2' in message
    assert str(depth) in message and expected in message


def test_float_maps_in_metres_are_accepted_when_configured(tmp_path):
    path = str(tmp_path / 'd.tiff')
    cv2.imwrite(path, np.full((2, 3), 2.5, np.float32))
    out = LoadDepthMap(expected_dtype=None, depth_rescale_factor=1.0)(
        dict(depth_map_path=path))
    np.testing.assert_allclose(out['gt_depth_map'], 2.5)


def test_depth_map_without_data_is_reported(tmp_path):
    path = str(tmp_path / 'zeros.png')
    cv2.imwrite(path, np.zeros((2, 3), np.uint16))
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        LoadDepthMap(depth_rescale_factor=1 / 256)(dict(depth_map_path=path))
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert any(path in m and 'no positive value' in m and
               'x 1/256 = metres' in m for m in messages), messages


@pytest.mark.parametrize('content,expected', [
    (b'/a/rgb.jpg /a/d.png\n/b/caf\xe9.jpg /b/d.png\n',
     'line 2: not UTF-8 text (byte 0xe9 at column 7)'),
    (b'/a/rgb.jpg /a/d.png\x00\n', 'line 1: contains a NUL byte'),
])
def test_split_file_decoding_errors_name_the_line(nyu, content, expected):
    (nyu / 'test_list.txt').write_bytes(content)
    with pytest.raises(ValueError) as err:
        _dataset(nyu, check_files=False)
    assert str(nyu / 'test_list.txt') in str(err.value)
    assert expected in str(err.value)


# ---------------------------------------------------------------------------
# Segmentation labels outside the classes (rel-09)
# ---------------------------------------------------------------------------
def _seg_sample(tmp_path, value):
    img, ann = tmp_path / 'a.jpg', tmp_path / 'a.png'
    cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
    labels = np.full((8, 8), 2, np.uint8)
    labels[:2] = value  # the top quarter, as in the case
    cv2.imwrite(str(ann), labels)
    pipeline = Compose([dict(type='LoadImageFromFile'),
                        dict(type='LoadAnnotations', reduce_zero_label=True),
                        dict(type='PackSegInputs')])
    return pipeline(dict(img_path=str(img), seg_map_path=str(ann),
                         reduce_zero_label=True, seg_fields=[]))


@pytest.mark.parametrize('mode', ['loss', 'predict'])
def test_seg_label_outside_classes_names_file_value_and_count(
        tmp_path, mode):
    """Label 200 with 5 classes: silent at test time, 'Target 199 is out of
    bounds' in training (rel-09)."""
    from vpd.models.segmentors import DiffusionSegmentor
    data = _seg_sample(tmp_path, 200)
    fake = SimpleNamespace(decode_head=SimpleNamespace(num_classes=5,
                                                       ignore_index=255))
    fake.check_labels = lambda s: DiffusionSegmentor.check_labels(fake, s)
    with pytest.raises(ValueError) as err:
        getattr(DiffusionSegmentor, mode)(fake, torch.zeros(1, 3, 8, 8),
                                          [data['data_samples']])
    message = str(err.value)
    for part in (str(tmp_path / 'a.png'), 'label value(s) 199',
                 'the file stores 200', '5 classes 0..4',
                 'not ignore_index 255'):
        assert part in message, (part, message)


def test_seg_labels_inside_classes_or_ignored_pass(tmp_path):
    from vpd.models.segmentors import DiffusionSegmentor
    data = _seg_sample(tmp_path, 0)  # 0 -> ignore with reduce_zero_label
    fake = SimpleNamespace(decode_head=SimpleNamespace(num_classes=5,
                                                       ignore_index=255))
    assert DiffusionSegmentor.check_labels(fake, [data['data_samples']]) \
        == 48


@pytest.mark.parametrize('broken', ['image', 'annotation'])
def test_corrupt_image_or_annotation_names_the_file(tmp_path, broken):
    """mmcv/mmseg failed with 'failed to load image' (an assertion) or
    "'NoneType' object has no attribute 'squeeze'" (no file named)."""
    img, ann = tmp_path / 'a.jpg', tmp_path / 'a.png'
    cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(ann), np.ones((8, 8), np.uint8))
    bad = img if broken == 'image' else ann
    bad.write_bytes(b'not an image')
    pipeline = Compose([dict(type='LoadImageFromFile'),
                        dict(type='LoadAnnotations')])
    with pytest.raises(ValueError) as err:
        pipeline(dict(img_path=str(img), seg_map_path=str(ann),
                      reduce_zero_label=False, seg_fields=[]))
    assert str(bad) in str(err.value) and f'cannot read {broken}' in \
        str(err.value)
    (tmp_path / 'gone.jpg').unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        pipeline(dict(img_path=str(tmp_path / 'gone.jpg'),
                      seg_map_path=str(ann), reduce_zero_label=False,
                      seg_fields=[]))
