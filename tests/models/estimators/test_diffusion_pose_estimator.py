"""DiffusionPoseEstimator on the tiny preset: loss, predict, flip test."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import BaseDataElement

from vpd.registry import MODELS, TRANSFORMS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
sys.path.insert(0, osp.join(ROOT, 'tests', 'configs'))
from _tiny import tinyfy  # noqa: E402

FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def build(input_size=(48, 64), **overrides):
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/models/meta_prompts_pose_sd15.py'))
    tinyfy(cfg)
    w, h = input_size
    cfg.model.codec = dict(type='UDPHeatmap', input_size=(w, h),
                           heatmap_size=(w // 4, h // 4), sigma=2)
    cfg.model.conditioner.num_prompts = 8
    cfg.model.head.update(in_channels=8, deconv_out_channels=(16, ))
    cfg.model.merge_from_dict(overrides) if hasattr(
        cfg.model, 'merge_from_dict') else cfg.model.update(overrides)
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def model():
    """The default tiny model (tests put it in eval mode as they need)."""
    return build()


def samples(n, input_size=(48, 64)):
    """Packed samples with targets for random keypoints."""
    w, h = input_size
    rng = np.random.default_rng(0)
    gen = TRANSFORMS.build(dict(
        type='GenerateHeatmapTarget',
        encoder=dict(type='UDPHeatmap', input_size=(w, h),
                     heatmap_size=(w // 4, h // 4))))
    pack = TRANSFORMS.build(dict(type='PackPoseInputs'))
    out = []
    for i in range(n):
        res = dict(img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
                   transformed_keypoints=rng.uniform(
                       4, [w - 4, h - 4], (1, 17, 2)),
                   keypoints_visible=np.ones((1, 17)),
                   bbox=np.array([[0, 0, w, h]], np.float32),
                   bbox_score=np.array([0.8]), id=i, img_id=1,
                   flip_indices=FLIP)
        out.append(pack(gen(res)))
    return out


def test_loss_and_predict(model):
    model.train()
    data = model.data_preprocessor(
        dict(inputs=[s['inputs'] for s in samples(2)],
             data_samples=[s['data_samples'] for s in samples(2)]), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_kpt'} and losses['loss_kpt'] > 0
    losses['loss_kpt'].backward()

    assert model.head.final_layer.weight.grad is not None
    assert model.conditioner.t1.grad is not None
    assert all(p.grad is None for p in model.backbone.vae.parameters())
    model.zero_grad()
    model.eval()
    hm = model(data['inputs'], mode='tensor')
    assert tuple(hm.shape) == (2, 17, 16, 12)
    with torch.no_grad():
        out = model(**data, mode='predict')
    pred = out[0].pred_instances
    assert pred.keypoints.shape == (1, 17, 2)
    assert pred.keypoint_scores.shape == (1, 17)
    assert pred.bbox_scores[0] == pytest.approx(0.8)


def test_flip_test_is_one_batch_and_matches_two_passes(model):
    model.eval()
    calls = []
    handle = model.backbone.unet.down_blocks[0].register_forward_hook(
        lambda m, a, o: calls.append(o[0].shape[0]))
    x = torch.randn(3, 3, 64, 48)
    with torch.no_grad():
        both = model.inference(x)
        n = len(calls)
        plain = model.extract_heatmaps(x)
        mirror = model.extract_heatmaps(x.flip(-1))
    handle.remove()
    # one UNet pass per refinement loop, each with 2 x 3 crops
    assert calls[:n] == [6] * model.backbone.num_loops
    ref = (plain + model.codec.flip_back(mirror, FLIP)) / 2
    torch.testing.assert_close(both, ref, atol=1e-5, rtol=1e-4)


def test_flip_symmetric_input_gives_mirrored_keypoints(model):
    model.eval()
    half = torch.randn(2, 3, 64, 24)
    x = torch.cat([half, half.flip(-1)], -1)  # mirror-symmetric crops
    with torch.no_grad():
        out = model.predict(x, [BaseDataElement(metainfo=dict(
            flip_indices=FLIP)) for _ in range(2)])
    for sample in out:
        k = sample.pred_instances.keypoints[0]
        left, right = k[1::2], k[2::2]
        np.testing.assert_allclose(left[:, 0] + right[:, 0], 47, atol=1e-3)
        np.testing.assert_allclose(left[:, 1], right[:, 1], atol=1e-3)


def test_keypoints_mapped_back_to_the_image(model):
    model.eval()
    x = torch.randn(1, 3, 64, 48)
    warp = np.array([[0.5, 0, 10], [0, 0.25, 20]], np.float32)
    with torch.no_grad():
        crop = model.predict(x.clone())[0].pred_instances.keypoints[0]
        img = model.predict(x, [BaseDataElement(metainfo=dict(
            warp_mat=warp))])[0].pred_instances.keypoints[0]
    np.testing.assert_allclose(img[:, 0], (crop[:, 0] - 10) / 0.5, atol=1e-3)
    np.testing.assert_allclose(img[:, 1], (crop[:, 1] - 20) / 0.25,
                               atol=1e-3)


@pytest.mark.parametrize('size,overrides', [
    ((40, 64), {}),  # padded 40 -> 64 symmetrically, cropped back
    ((48, 64), dict(vae_input_size=(96, 128))),  # upscaled before the VAE
])
def test_other_input_sizes(size, overrides):
    model = build(size, test_cfg=dict(flip_test=False), **overrides).eval()
    w, h = size
    with torch.no_grad():
        hm = model.extract_heatmaps(torch.randn(1, 3, h, w))
    assert tuple(hm.shape) == (1, 17, h // 4, w // 4)


def test_mismatched_loops_are_refused():
    with pytest.raises(ValueError, match='num_loops'):
        build(conditioner=dict(num_loops=2))
