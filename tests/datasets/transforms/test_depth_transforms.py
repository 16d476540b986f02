"""Depth transforms: vpd's own and the mmseg ones the pipelines reuse."""
import cv2
import numpy as np
import pytest
import torch

from vpd.datasets.transforms import (CutDepth, DepthPhotometricAug, KBCrop,
                                     LoadDepthMap)
from vpd.registry import TRANSFORMS


def _results(h=6, w=10, seed=0):
    """A loaded sample: BGR uint8 image and depth in metres."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.5, (h, w)).astype(np.float32)
    return dict(
        img=img,
        gt_depth_map=depth,
        depth_rescale_factor=1e-3,  # as LoadDepthMap sets it (NYU, mm)
        seg_fields=['gt_depth_map'],
        img_path='scene/rgb_00001.jpg',
        depth_map_path='scene/sync_depth_00001.png',
        img_shape=(h, w),
        ori_shape=(h, w))


# --------------------------------------------------------------- registry
@pytest.mark.parametrize('name, cls', [
    ('LoadDepthMap', LoadDepthMap),
    ('KBCrop', KBCrop),
    ('CutDepth', CutDepth),
    ('DepthPhotometricAug', DepthPhotometricAug),
])
def test_registered(name, cls):
    assert TRANSFORMS.get(name) is cls


# ----------------------------------------------------------- LoadDepthMap
@pytest.fixture
def depth_png(tmp_path):
    depth = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    path = tmp_path / 'd.png'
    cv2.imwrite(str(path), depth)
    return str(path), depth


def test_load_depth_uses_dataset_factor(depth_png):
    path, depth = depth_png
    out = LoadDepthMap()(
        dict(depth_map_path=path, depth_rescale_factor=1 / 256,
             seg_fields=[]))
    assert out['gt_depth_map'].dtype == np.float32
    np.testing.assert_allclose(out['gt_depth_map'], depth / 256.0)
    assert out['seg_fields'] == ['gt_depth_map']
    assert out['depth_rescale_factor'] == pytest.approx(1 / 256)


def test_load_depth_argument_overrides(depth_png):
    path, depth = depth_png
    out = LoadDepthMap(depth_rescale_factor=1e-3)(
        dict(depth_map_path=path, depth_rescale_factor=1 / 256))
    np.testing.assert_allclose(out['gt_depth_map'], depth / 1000.0,
                               rtol=1e-6)
    assert out['seg_fields'] == ['gt_depth_map']  # created when absent


def test_load_depth_missing_keys(depth_png):
    path, _ = depth_png
    with pytest.raises(KeyError, match='depth_map_path'):
        LoadDepthMap()(dict(seg_fields=[]))
    with pytest.raises(KeyError, match='depth_rescale_factor'):
        LoadDepthMap()(dict(depth_map_path=path, seg_fields=[]))


def test_load_depth_missing_file(tmp_path):
    path = str(tmp_path / 'missing.png')
    with pytest.raises(FileNotFoundError, match='missing.png'):
        LoadDepthMap(depth_rescale_factor=1.0)(dict(depth_map_path=path))


def test_load_depth_corrupt_and_color(tmp_path):
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'garbage')
    with pytest.raises(ValueError, match='bad.png.*corrupt'):
        LoadDepthMap(depth_rescale_factor=1.0)(dict(depth_map_path=str(bad)))
    color = tmp_path / 'color.png'
    cv2.imwrite(str(color), np.zeros((3, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='color.png.*single-channel'):
        LoadDepthMap(depth_rescale_factor=1.0)(
            dict(depth_map_path=str(color)))


def test_load_depth_shape_check(depth_png):
    path, _ = depth_png
    results = dict(
        img=np.zeros((4, 4, 3), np.uint8),
        img_path='x/rgb.jpg',
        depth_map_path=path,
        depth_rescale_factor=1.0)
    with pytest.raises(ValueError) as err:
        LoadDepthMap()(results)
    assert 'x/rgb.jpg' in str(err.value) and path in str(err.value)
    # the check can be turned off
    LoadDepthMap(check_shape=False)(dict(results))


# ------------------------------------------------------------------ KBCrop
def test_kb_crop_reference_offsets():
    h, w = 375, 1242
    img = np.arange(h * w * 3, dtype=np.int64).reshape(h, w, 3)
    depth = np.arange(h * w, dtype=np.float32).reshape(h, w)
    results = dict(img=img, gt_depth_map=depth, seg_fields=['gt_depth_map'],
                   img_shape=(h, w), ori_shape=(h, w))
    out = KBCrop()(results)
    top, left = h - 352, (w - 1216) // 2
    assert (top, left) == (23, 13)
    assert out['kb_crop_offset'] == (23, 13)
    np.testing.assert_array_equal(out['img'], img[23:375, 13:1229])
    np.testing.assert_array_equal(out['gt_depth_map'], depth[23:375, 13:1229])
    assert out['img_shape'] == (352, 1216)
    assert out['ori_shape'] == (352, 1216)


def test_kb_crop_odd_width_and_keep_ori_shape():
    results = _results(h=9, w=15)
    out = KBCrop(height=4, width=10, update_ori_shape=False)(results)
    assert out['kb_crop_offset'] == (5, 2)
    assert out['ori_shape'] == (9, 15)
    assert out['img'].shape == (4, 10, 3)


def test_kb_crop_errors():
    with pytest.raises(KeyError, match='"img"'):
        KBCrop()(dict())
    with pytest.raises(ValueError, match='rgb_00001.jpg.*smaller'):
        KBCrop()(_results(h=300, w=1300))
    results = _results(h=9, w=15)
    results['gt_depth_map'] = results['gt_depth_map'][:8]
    with pytest.raises(ValueError, match='sync_depth_00001.png'):
        KBCrop(height=4, width=10)(results)


# ---------------------------------------------------------------- CutDepth
def _stripe_columns(before, after):
    return np.where((before != after).any(axis=(0, 2)))[0]


def test_cut_depth_stripe_geometry_and_values():
    np.random.seed(3)
    np.random.rand()  # the prob draw
    alpha, beta = np.random.rand(2)  # the stripe draws
    results = _results(h=6, w=40)
    img = results['img'].copy()
    depth = results['gt_depth_map'].copy()
    np.random.seed(3)
    out = CutDepth(prob=1.0, depth_values='scaled', max_depth=10.0)(results)
    left = int(alpha * 40)
    width = int(max((40 - alpha * 40) * beta * 0.75, 1))
    stripe = np.rint(np.clip(depth[:, left:left + width] / 10.0, 0, 1) * 255)
    for c in range(3):
        np.testing.assert_array_equal(out['img'][:, left:left + width, c],
                                      stripe.astype(np.uint8))
    outside = np.ones(40, bool)
    outside[left:left + width] = False
    np.testing.assert_array_equal(out['img'][:, outside], img[:, outside])
    np.testing.assert_array_equal(out['gt_depth_map'], depth)


def test_cut_depth_interval_pattern():
    transform = CutDepth(interval=4)
    applied = []
    for i in range(9):
        results = _results(seed=i)
        before = results['img'].copy()
        out = transform(results)
        applied.append(bool((out['img'] != before).any()))
    assert applied == [True, False, False, False, True, False, False, False,
                       True]


def test_cut_depth_probability():
    never = CutDepth(prob=0.0)
    results = _results()
    before = results['img'].copy()
    np.testing.assert_array_equal(never(results)['img'], before)
    np.random.seed(0)
    always = CutDepth(prob=1.0)
    hits = sum(
        bool((always(_results(seed=i))['img'] != _results(seed=i)['img']
              ).any()) for i in range(20))
    assert hits >= 18  # a stripe can coincide with equal pixels, rarely
    np.random.seed(0)
    quarter = CutDepth(prob=0.25)
    count = sum(
        bool((quarter(_results(seed=i))['img'] != _results(seed=i)['img']
              ).any()) for i in range(400))
    assert 60 <= count <= 140


def test_cut_depth_errors():
    with pytest.raises(KeyError, match='gt_depth_map'):
        CutDepth()(dict(img=np.zeros((2, 2, 3), np.uint8)))
    results = _results()
    results['gt_depth_map'] = results['gt_depth_map'][:, :5]
    with pytest.raises(ValueError, match='rgb_00001.jpg.*sync_depth_00001'):
        CutDepth()(results)
    with pytest.raises(ValueError):
        CutDepth(prob=2.0)
    with pytest.raises(ValueError, match='not both'):
        CutDepth(prob=0.5, interval=4)
    with pytest.raises(ValueError, match='depth_values'):
        CutDepth(depth_values='mm')
    results = _results()
    del results['depth_rescale_factor']
    with pytest.raises(KeyError, match='depth_rescale_factor'):
        CutDepth()(results)


def test_cut_depth_defaults_are_the_reference():
    """Every 4th call, raw stored depth (here mm): integer part modulo
    256 into uint8, the raw value into a float image."""
    transform = CutDepth()
    assert (transform.interval, transform.prob) == (4, None)
    assert transform.depth_values == 'raw'
    results = _results(h=4, w=40)
    results['img'] = results['img'].astype(np.float32)
    depth_mm = results['gt_depth_map'] / 1e-3  # not integers here
    before = results['img'].copy()
    np.random.seed(0)
    out = transform(results)['img']
    cols = np.where((out != before).any(axis=(0, 2)))[0]
    assert len(cols) >= 1
    # (values within 0.01 of an integer are taken as stored integers)
    np.testing.assert_allclose(out[:, cols, 1], depth_mm[:, cols],
                               rtol=0, atol=1e-2)


# ----------------------------------------------------- DepthPhotometricAug
def test_photometric_changes_image_only_and_is_seeded():
    aug = DepthPhotometricAug()
    changed = 0
    for i in range(10):
        results = _results(h=16, w=16, seed=i)
        before_img = results['img'].copy()
        before_depth = results['gt_depth_map'].copy()
        np.random.seed(i)
        out = aug(results)
        assert out['img'].dtype == np.uint8
        assert out['img'].shape == before_img.shape
        np.testing.assert_array_equal(out['gt_depth_map'], before_depth)
        changed += bool((out['img'] != before_img).any())
        np.random.seed(i)
        again = aug(_results(h=16, w=16, seed=i))
        np.testing.assert_array_equal(again['img'], out['img'])
    assert changed >= 7  # each of the 3 ops fires with p=0.5


def test_photometric_zero_probability_is_identity():
    aug = DepthPhotometricAug(
        brightness_contrast_prob=0, gamma_prob=0, hsv_prob=0)
    results = _results(h=8, w=8)
    before = results['img'].copy()
    np.testing.assert_array_equal(aug(results)['img'], before)


def test_photometric_channel_order():
    bgr = _results(h=8, w=8)
    rgb = dict(bgr, img=bgr['img'][..., ::-1].copy())
    np.random.seed(5)
    out_bgr = DepthPhotometricAug(hsv_prob=1.0)(dict(bgr))['img']
    np.random.seed(5)
    out_rgb = DepthPhotometricAug(
        hsv_prob=1.0, channel_order='rgb')(rgb)['img']
    np.testing.assert_array_equal(out_bgr, out_rgb[..., ::-1])


def test_photometric_errors():
    with pytest.raises(KeyError, match='"img"'):
        DepthPhotometricAug()(dict())
    results = _results()
    results['img'] = results['img'].astype(np.float32)
    with pytest.raises(TypeError, match='uint8'):
        DepthPhotometricAug()(results)
    with pytest.raises(ValueError):
        DepthPhotometricAug(channel_order='hsv')


# ----------------------------------------- mmseg transforms reused as is
def test_mmseg_random_flip_flips_depth():
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0))
    results = _results()
    img, depth = results['img'].copy(), results['gt_depth_map'].copy()
    out = flip(results)
    np.testing.assert_array_equal(out['img'], img[:, ::-1])
    np.testing.assert_array_equal(out['gt_depth_map'], depth[:, ::-1])
    assert out['flip'] is True and out['flip_direction'] == 'horizontal'


def test_mmseg_random_crop_crops_depth_consistently():
    h, w = 6, 10
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.arange(w)[None]
    img[..., 1] = np.arange(h)[:, None]
    depth = (np.arange(h)[:, None] * 100 + np.arange(w)[None]).astype(
        np.float32)
    crop = TRANSFORMS.build(dict(type='RandomCrop', crop_size=(4, 5)))
    for seed in range(5):
        np.random.seed(seed)
        out = crop(dict(img=img.copy(), gt_depth_map=depth.copy(),
                        seg_fields=['gt_depth_map']))
        y0, x0 = int(out['img'][0, 0, 1]), int(out['img'][0, 0, 0])
        np.testing.assert_array_equal(out['gt_depth_map'],
                                      depth[y0:y0 + 4, x0:x0 + 5])
        assert out['img_shape'] == (4, 5)


def test_mmseg_pack_seg_inputs_packs_depth():
    pack = TRANSFORMS.build(dict(type='PackSegInputs'))
    results = _results()
    depth = results['gt_depth_map'].copy()
    out = pack(results)
    data = out['data_samples'].gt_depth_map.data
    assert data.shape == (1, 6, 10) and data.dtype == torch.float32
    np.testing.assert_array_equal(data[0].numpy(), depth)
    assert out['data_samples'].img_path == 'scene/rgb_00001.jpg'
