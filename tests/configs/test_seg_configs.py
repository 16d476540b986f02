"""Every VPD segmentation config parses, resolves and builds (tiny preset)."""
import glob
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from vpd.registry import (DATASETS, MODELS, OPTIM_WRAPPERS,
                          PARAM_SCHEDULERS, TRANSFORMS)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _tiny import tinyfy  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'vpd', 'vpd_*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'quickstart', 'vpd_*seg*.py')))
SEG_CONFIGS = [
    p for p in CONFIGS
    if Config.fromfile(p).model.type == 'DiffusionSegmentor'
]
DATASET_CLASSES = {'ADE20KDataset': 150, 'CityscapesDataset': 19}


def _name(path):
    return osp.basename(path)


def test_seg_configs_found():
    names = {_name(p) for p in SEG_CONFIGS}
    assert {
        'vpd_sd15-fpn_8xb2-80k_ade20k-512x512.py',
        'vpd_sd15-fpn_8xb2-80k_cityscapes-512x1024.py',
        'vpd_tiny-fpn_1xb4-300_synthetic-seg-64x64.py',
    } <= names


def _num_dataset_classes(cfg):
    ds = cfg.train_dataloader.dataset
    if ds.get('metainfo') and 'classes' in ds.metainfo:
        return len(ds.metainfo.classes)
    return DATASET_CLASSES[ds.type]


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=_name)
def test_seg_config_consistent(path):
    """K is one number: classes, tokens, attention maps, FPN widths."""
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'vpd'
    model = cfg.model
    k = model.decode_head.num_classes
    assert k == _num_dataset_classes(cfg)
    assert model.conditioner.num_classes == k
    assert model.conditioner.mode == 'all'
    assert model.backbone.attn_maps.num_tokens == k
    assert model.backbone.attn_maps.levels == (1, 2)
    # the FPN widths [c0, c1 + K, c2 + K, c3] are derived from the backbone
    # (checked on the built model in test_seg_config_builds_tiny), not
    # repeated in the config
    assert 'in_channels' not in model.neck
    assert 'in_channels' not in model.decode_head
    assert model.backbone.crop_output
    dp = model.data_preprocessor
    assert dp.mean == dp.std == [127.5] * 3 and dp.bgr_to_rgb
    assert dp.seg_pad_val == 255 and dp.pad_val == 0
    assert model.decode_head.dropout_ratio == 0.1
    # every type resolves in scope vpd
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[loader].dataset
        assert DATASETS.get(ds.type) is not None, ds.type
        for t in ds.pipeline:
            assert TRANSFORMS.get(t.type) is not None, t.type
    for t in cfg.get('tta_pipeline', []):
        assert TRANSFORMS.get(t.type) is not None, t.type
    assert MODELS.get(cfg.tta_model.type) is not None


@pytest.mark.parametrize('path', [
    p for p in SEG_CONFIGS if osp.basename(osp.dirname(p)) == 'vpd'
], ids=_name)
def test_seg_recipe(path):
    cfg = Config.fromfile(path)
    ow = cfg.optim_wrapper
    assert ow.optimizer.type == 'AdamW' and ow.optimizer.lr == 8e-5
    assert ow.optimizer.weight_decay == 1e-3
    keys = ow.paramwise_cfg.custom_keys
    assert keys['backbone.unet'].lr_mult == 0.1
    assert keys['backbone.vae'].lr_mult == 0.0
    assert ow.paramwise_cfg.norm_decay_mult == 0.0
    warmup, poly = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 1501
    assert poly.type == 'PolyLR' and poly.power == 1.0 and poly.end == 80001
    assert poly.begin == 0  # chained with the warm-up, as mmcv's poly
    assert cfg.train_cfg.max_iters == 80000
    assert cfg.train_cfg.val_interval == 8000
    assert cfg.train_dataloader.batch_size == 2
    test = cfg.model.test_cfg
    assert test.mode == 'slide'
    if 'ade20k' in path:
        assert test.crop_size == (512, 512) and test.stride == (341, 341)
        ratios = [t.scale[1] / 512 for t in cfg.tta_pipeline[1].transforms[0]]
        assert ratios == [1.0, 1.125, 1.25, 1.375, 1.5]
        assert cfg.train_dataloader.dataset.pipeline[1].reduce_zero_label


def test_seg_schedule_equals_mmcv_poly_with_linear_warmup():
    """mmengine's chained LinearLR + PolyLR give the official mmcv 1.x
    lr: (1 - i / 80000) * base, times (r + (1 - r) * i / 1500) during the
    warm-up (r = 1e-6)."""
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'schedules',
                                   'seg_80k.py'))
    base = cfg.optim_wrapper.optimizer.lr
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    wrapper = OptimWrapper(opt)
    scheds = [PARAM_SCHEDULERS.build(dict(c, optimizer=wrapper))
              for c in cfg.param_scheduler]
    for i in range(80000):
        expected = base * (1 - i / 80000)
        if i < 1500:
            expected *= 1e-6 + (1 - 1e-6) * i / 1500
        if i in (0, 1, 750, 1499, 1500, 1501, 3000, 40000, 79999):
            assert opt.param_groups[0]['lr'] == pytest.approx(
                expected, rel=1e-9, abs=1e-15), i
        for sched in scheds:
            sched.step()


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=_name)
def test_seg_config_builds_tiny(path):
    cfg = tinyfy(Config.fromfile(path))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'DiffusionSegmentor'
    k = cfg.model.decode_head.num_classes
    assert model.backbone.out_channels == [32, 64 + k, 64 + k, 64]
    assert list(model.neck.in_channels) == model.backbone.out_channels
    assert model.conditioner.class_embeddings.shape == (k, 32)
    # unused modules are not built
    assert not hasattr(model.backbone.unet, 'conv_out')
    assert not hasattr(model.backbone.vae, 'decoder')
    assert not model.with_auxiliary_head
    # the optimiser wrapper and schedulers build on the model
    from mmengine.optim import build_optim_wrapper
    ow = build_optim_wrapper(model, cfg.optim_wrapper)
    assert OPTIM_WRAPPERS.get(cfg.optim_wrapper.type) is not None
    base_lr = cfg.optim_wrapper.optimizer.lr
    unet_ids = {id(p) for p in model.backbone.unet.parameters()}
    for group in ow.optimizer.param_groups:
        p = group['params'][0]
        if id(p) in unet_ids and p.requires_grad:
            assert group['lr'] == pytest.approx(
                base_lr * cfg.optim_wrapper.paramwise_cfg.custom_keys.get(
                    'backbone.unet', {}).get('lr_mult', 1.0))
    for sched in cfg.param_scheduler:
        assert PARAM_SCHEDULERS.get(sched.type) is not None
    # one forward/backward on a small batch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64),
                                        pad_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, k, (1, 64, 64)))
        samples.append(s)
    losses = model.loss(torch.randn(2, 3, 64, 64), samples)
    assert torch.isfinite(losses['decode.loss_ce'])


def test_tinyfy_mismatch_is_caught():
    """A neck whose widths ignore K fails at build time, clearly."""
    path = [p for p in SEG_CONFIGS if 'ade20k' in p][0]
    cfg = tinyfy(Config.fromfile(path))
    cfg.model.neck.in_channels = [32, 64, 64, 64]
    with pytest.raises(ValueError, match='out_channels'):
        MODELS.build(cfg.model)


def test_tiny_quickstart_classifier_init_after_init_weights():
    """The VPD seg quickstart's 64-channel FPNHead classifier starts at std
    0.1 once ``init_weights()`` (as the Runner calls it) has run; the SD1.5
    configs keep mmseg's N(0, 0.01). See configs/meta_prompts/README.md."""
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'quickstart',
        'vpd_tiny-fpn_1xb4-300_synthetic-seg-64x64.py'))
    cfg.model.backbone.pretrained = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    std = model.decode_head.conv_seg.weight.std().item()
    assert 0.08 < std < 0.12, std
    for path in CONFIGS:
        if '/configs/vpd/' in path:
            assert 'init_cfg' not in Config.fromfile(path).model.get(
                'decode_head', {}), path
