"""Every VPD depth config parses, builds on the tiny preset, runs, and
carries the paper's / mmseg's recipe."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from vpd.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPTH_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'vpd', '*nyu*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'vpd', '*kitti*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'quickstart', 'vpd_tiny_*depth*.py')))
ALL_CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p)


def tiny_depth_model(model):
    model.backbone.update(unet='tiny', vae='tiny', pretrained=None)
    cond = model.conditioner
    cond.update(class_embeddings=None, embed_dim=32)
    if cond.get('num_classes') is None:
        cond.num_classes = 4
    model.neck.update(in_channels=[32, 64, 64, 64], out_channels=64,
                      num_groups=8)
    model.decode_head.update(in_channels=64, channels=16,
                             num_filters=[8, 8, 8])
    return model


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=osp.basename)
def test_every_config_parses_with_a_vpd_model(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'vpd'
    assert MODELS.get(cfg.model.type) is not None
    name = osp.basename(path)
    # {method}_{backbone}_{gpus}xb{batch}-{schedule}_{dataset}-{crop}.py
    parts = name[:-3].split('_')
    assert len(parts) >= 4 and 'xb' in parts[2], name


@pytest.mark.parametrize('path', DEPTH_CONFIGS, ids=osp.basename)
def test_depth_config_builds_and_runs_tiny(path):
    cfg = Config.fromfile(path)
    torch.manual_seed(0)
    model = MODELS.build(tiny_depth_model(cfg.model))
    tta = MODELS.build(dict(cfg.tta_model, module=model))
    s = SegDataSample(metainfo=dict(img_path='/x/kitchen_1/rgb_1.jpg',
                                    img_shape=(48, 64), ori_shape=(48, 64)))
    s.gt_depth_map = PixelData(data=torch.rand(1, 48, 64) * 5 + 0.5)
    data = dict(inputs=[torch.randint(0, 255, (3, 48, 64),
                                      dtype=torch.uint8)],
                data_samples=[s])
    loss = model.train_step(data, _NoOptim())
    assert torch.isfinite(loss['loss_silog'])
    out = tta.test_step(data)
    assert out[0].pred_depth_map.shape == (48, 64)


class _NoOptim:
    """Stands in for an optim wrapper: records the loss only."""

    def optim_context(self, model):
        import contextlib
        return contextlib.nullcontext()

    def update_params(self, loss):
        loss.backward()


def _cfg(name):
    return Config.fromfile(osp.join(ROOT, 'configs', 'vpd', name))


def test_official_nyu_recipe():
    cfg = _cfg('vpd_sd15_8xb3-25e_nyu-480x480.py')
    m = cfg.model
    assert m.backbone.unet == dict(preset='sd15') and m.backbone.timestep == 1
    assert not m.backbone.get('scale_latents', False)
    assert m.backbone.attn_maps is None  # depth turns attention maps off
    assert m.conditioner.mode == 'per_image'
    assert m.conditioner.num_classes == 27 and m.conditioner.gamma_init == 1e-4
    assert m.neck.out_channels == 1536
    assert m.decode_head.num_filters == [32, 32, 32]
    assert m.decode_head.max_depth == 10
    assert m.loss.lambd == 0.5
    assert cfg.train_dataloader.batch_size == 3
    assert cfg.train_pipeline[4].crop_size == (480, 480)
    opt = cfg.optim_wrapper
    assert opt.optimizer.lr == 5e-4 and opt.optimizer.weight_decay == 0.1
    assert opt.paramwise_cfg.custom_keys['backbone.unet'].lr_mult == 0.01
    sched = cfg.param_scheduler[0]
    assert sched.type == 'TwoPhasePolyLR'
    assert abs(sched.min_ratio * 5e-4 - 3e-5) < 1e-12 and sched.peak == 12
    assert cfg.train_cfg.max_epochs == 25
    assert cfg.val_evaluator.crop_type == 'eigen'
    assert cfg.tta_model.flip and cfg.tta_model.shift_windows == 2


def test_official_optimizer_groups():
    """UNet at lr x0.01, no decay on 1-D parameters, VAE not optimised."""
    from mmengine.optim import build_optim_wrapper
    cfg = _cfg('vpd_sd15_8xb3-25e_nyu-480x480.py')
    torch.manual_seed(0)
    model = MODELS.build(tiny_depth_model(cfg.model))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            n = names[id(p)]
            if n.startswith('backbone.vae'):  # frozen, never updated
                assert not p.requires_grad
                continue
            if n.startswith('backbone.unet'):
                assert group['lr'] == pytest.approx(5e-6)
            else:
                assert group['lr'] == pytest.approx(5e-4)
            if p.ndim == 1:
                assert group['weight_decay'] == 0, n
            else:
                assert group['weight_decay'] == pytest.approx(0.1), n


def test_mmseg_port_recipes():
    for name, crop, windows in (('vpd_sd15_4xb8-25k_nyu-480x480.py',
                                 (480, 480), 2),
                                ('vpd_sd15_4xb8-25k_nyu-512x512.py',
                                 (512, 512), 3)):
        cfg = _cfg(name)
        assert cfg.train_dataloader.batch_size == 8
        assert cfg.train_cfg.max_iters == 25000
        assert cfg.optim_wrapper.optimizer.lr == 1e-3
        assert cfg.model.test_cfg.flip
        assert cfg.model.test_cfg.shift_windows == windows
        if crop == (512, 512):  # mmseg's slide: 512x683 -> x = 0, 128, 171
            assert cfg.model.test_cfg.window_stride == 128
            assert cfg.tta_model.window_stride == 128
            from vpd.models.estimators import DiffusionDepthEstimator
            wins, edge = DiffusionDepthEstimator._windows(512, 683, 3, 128)
            assert [x for _, x, _, _ in wins] == [0, 128, 171]
            assert edge is None
        crops = [t for t in cfg.train_dataloader.dataset.pipeline
                 if t.type == 'RandomCrop']
        assert crops[0].crop_size == crop


def test_kitti_recipe():
    cfg = _cfg('vpd_sd15_8xb3-25e_kitti-352x352.py')
    assert cfg.model.decode_head.max_depth == 80
    assert cfg.val_evaluator.crop_type == 'garg'
    assert any(t.type == 'KBCrop' for t in cfg.test_pipeline)


def test_nyu_scene_classes_match_dataset():
    from vpd.datasets import NYU_SCENE_CLASSES
    cfg = _cfg('vpd_sd15_8xb3-25e_nyu-480x480.py')
    assert tuple(cfg.model.conditioner.class_names) == NYU_SCENE_CLASSES
