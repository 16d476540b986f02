"""vpd.apis.inference_model on whatever users feed it (issue 12 §3, issue
14): mixed sizes, paths, PIL images, 1/3/4-channel arrays, channel order,
float arrays, an explicit depth class, every family at any size.

Cases bugrep-02 (list of mixed sizes) and bugrep-03 (BGRA array, float
array accepted silently) are replayed with their expected values."""
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICK = osp.join(ROOT, 'configs', 'quickstart')
CONFIGS = {
    'vpd-depth': 'vpd_tiny_1xb8-150_synthetic-depth-96x128.py',
    'mp-depth': 'meta-prompts_tiny_1xb4-300_synthetic-depth-96x128.py',
    'vpd-seg': 'vpd_tiny-fpn_1xb4-300_synthetic-seg-64x64.py',
    'mp-seg': 'meta-prompts_tiny-upernet_1xb4-300_synthetic-seg-64x64.py',
    'pose': 'meta-prompts_tiny_1xb8-300_synthetic-pose-128x96.py',
}
_MODELS = {}


def _model(family):
    """The tiny quickstart model of a family, random weights (cached); the
    depth models' weights are spread out (``randomize_``) so that their
    prediction depends on the image (the default init predicts a constant)."""
    if family not in _MODELS:
        from vpd.apis import init_model
        opts = {'model.backbone.pretrained': None}  # no tiny SD file needed
        model = init_model(osp.join(QUICK, CONFIGS[family]),
                           cfg_options=opts)
        if 'depth' in family:
            sys.path.insert(0, osp.join(ROOT, 'tests', 'models',
                                        'converters'))
            from tiny_models import randomize_
            randomize_(model, 0)
        _MODELS[family] = model
    return _MODELS[family]


def _rand(h, w, c=3, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (h, w, c), np.uint8)


def _depth(sample):
    return sample.pred_depth_map.data


def test_bugrep02_list_of_mixed_sizes(tmp_path):
    """bugrep-02: two arrays of 97x131 and 150x90 give (1, 97, 131) and
    (1, 150, 90), equal to each image alone; the same with paths; equal
    sizes are batched and still equal the single results."""
    from vpd.apis import inference_model
    model = _model('vpd-depth')
    land, port = _rand(97, 131), _rand(150, 90, seed=1)
    alone = [_depth(inference_model(model, im)) for im in (land, port)]
    out = inference_model(model, [land, port])
    assert [tuple(_depth(s).shape) for s in out] == [(1, 97, 131),
                                                     (1, 150, 90)]
    for s, ref in zip(out, alone):
        torch.testing.assert_close(_depth(s), ref, rtol=1e-4, atol=1e-4)
    paths = []
    for name, im in (('land.png', land), ('port.png', port)):
        cv2.imwrite(str(tmp_path / name), im)
        paths.append(str(tmp_path / name))
    out = inference_model(model, [paths[0], port, paths[1], land],
                          batch_size=2)  # mixed kinds; (land, land) batched
    assert [tuple(_depth(s).shape)[1:] for s in out] == [
        (97, 131), (150, 90), (150, 90), (97, 131)]
    torch.testing.assert_close(_depth(out[0]), alone[0], rtol=1e-4,
                               atol=1e-4)
    torch.testing.assert_close(_depth(out[3]), alone[0], rtol=1e-4,
                               atol=1e-4)


def test_bugrep03_bgra_grey_float_and_pil(tmp_path):
    """bugrep-03: a BGRA array (cv2.IMREAD_UNCHANGED of an RGBA PNG) gives
    the prediction of its file path, alpha dropped; grey is replicated; a
    float array is refused unless its range is given; PIL images and
    ``channel_order='rgb'`` arrays equal the BGR array."""
    from PIL import Image

    from vpd.apis import inference_model
    model = _model('vpd-depth')
    bgr = _rand(80, 100)
    bgra = np.concatenate([bgr, np.full((80, 100, 1), 128, np.uint8)], -1)
    path = str(tmp_path / 'rgba.png')
    cv2.imwrite(path, bgra)
    arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert arr.shape == (80, 100, 4)
    ref = _depth(inference_model(model, bgr))
    for same in (arr, path, Image.open(path), bgr[..., ::-1].copy()):
        order = 'rgb' if same is not arr and isinstance(same, np.ndarray) \
            else 'bgr'
        out = _depth(inference_model(model, same, channel_order=order))
        assert out.shape == (1, 80, 100)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    grey = bgr[..., 0].copy()
    torch.testing.assert_close(
        _depth(inference_model(model, grey)),
        _depth(inference_model(model, np.repeat(grey[..., None], 3, -1))))
    assert _depth(inference_model(model, grey[..., None])).shape == \
        (1, 80, 100)
    floats = bgr.astype(np.float32) / 255
    with pytest.raises(ValueError, match=r'value_range=\(0, 1\)'):
        inference_model(model, floats)
    torch.testing.assert_close(
        _depth(inference_model(model, floats, value_range=(0, 1))), ref,
        rtol=1e-4, atol=1e-4)
    # swapped channels are not the same picture: the argument matters
    swapped = _depth(inference_model(model, bgr, channel_order='rgb'))
    assert not torch.allclose(swapped, ref)
    with pytest.raises(ValueError, match=r'\[C, H, W\]'):
        inference_model(model, bgr.transpose(2, 0, 1).copy())
    with pytest.raises(ValueError, match='channel_order'):
        inference_model(model, bgr, channel_order='bgra')
    with pytest.raises(TypeError, match='numpy array'):
        inference_model(model, torch.zeros(3, 8, 8))


def test_explicit_depth_class_and_fallback_log(tmp_path, monkeypatch):
    """``class_name`` (mmseg's category_id) chooses the class embedding;
    an image whose path names no class uses the mean one, and says so."""
    from vpd.apis import inference_model
    model = _model('vpd-depth')
    names = model.conditioner.class_names
    img = _rand(40, 48)
    path = str(tmp_path / 'kitchen_0001_00001.png')
    cv2.imwrite(path, img)
    kitchen = _depth(inference_model(model, path))  # class from the path
    explicit = _depth(inference_model(model, img, class_name='kitchen'))
    torch.testing.assert_close(explicit, kitchen)
    by_index = _depth(inference_model(
        model, img, class_name=names.index('kitchen')))
    torch.testing.assert_close(by_index, kitchen)
    import mmengine.logging
    logged = []
    monkeypatch.setattr(mmengine.logging, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    plain = str(tmp_path / 'photo.png')  # no class in this path
    cv2.imwrite(plain, img)
    mean = _depth(inference_model(model, plain))
    fallback = [m for m in logged if 'mean of the' in m]
    assert len(fallback) == 1 and 'photo.png' in fallback[0]
    assert 'mean of the 27 class embeddings' in fallback[0]
    torch.testing.assert_close(
        _depth(inference_model(model, img, class_name=-1)), mean)
    assert not torch.allclose(mean, kitchen)
    with pytest.raises(ValueError, match='unknown class name "garage"'):
        inference_model(model, img, class_name='garage')
    with pytest.raises(ValueError, match='class_name'):
        inference_model(_model('mp-depth'), img, class_name='kitchen')


# a few pixels, odd sizes, and a 4K extent (a 3840-pixel-wide strip; the
# full 2160x3840 frame only for pose, whose crops are small: the tiny
# UNet's self-attention on a 4K latent takes minutes on one CPU thread)
SIZES = [(1, 1), (3, 5), (17, 9), (8, 3840)]


@pytest.mark.parametrize('family', list(CONFIGS))
def test_every_family_at_any_size(family):
    from vpd.apis import inference_model
    model = _model(family)
    sizes = SIZES + ([(2160, 3840)] if family == 'pose' else [])
    for h, w in sizes:
        img = _rand(h, w)
        out = inference_model(model, img)
        if family == 'pose':
            assert len(out) == 1 and out[0]['bbox'] == [0.0, 0.0, w, h]
            kpts = np.array(out[0]['keypoints']).reshape(-1, 3)
            assert np.isfinite(kpts).all(), (h, w)
        elif 'depth' in family:
            d = _depth(out)
            assert d.shape == (1, h, w) and torch.isfinite(d).all(), (h, w)
            assert (d > 0).all()
        else:
            assert out.pred_sem_seg.data.shape == (1, h, w), (h, w)
            assert out.seg_logits.data.shape[1:] == (h, w)
