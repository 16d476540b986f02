"""The referring-segmentation configs: consistent, official recipe, build
and run (forward / loss / predict) with the tiny preset."""
import glob
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from vpd.registry import DATASETS, METRICS, MODELS, TRANSFORMS

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _tiny import tinyfy  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'vpd', 'vpd_*lavt*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'quickstart', 'vpd_*refer*.py')))
OFFICIAL = {  # dataset, split_by, token length (refer/README.md commands)
    'vpd_sd15-lavt_8xb4-40e_refcoco-512x512.py': ('refcoco', 'unc', 40),
    'vpd_sd15-lavt_8xb4-40e_refcoco+-512x512.py': ('refcoco+', 'unc', 40),
    'vpd_sd15-lavt_8xb4-40e_refcocog-umd-512x512.py': ('refcocog', 'umd',
                                                       77),
}


def _name(path):
    return osp.basename(path)


def test_configs_found():
    assert set(OFFICIAL) < {_name(p) for p in CONFIGS}
    assert any('quickstart' in p for p in CONFIGS)


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_consistent(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'vpd'
    model = cfg.model
    assert model.type == 'ReferringSegmentor'
    length = model.conditioner.token_length
    assert model.backbone.attn_maps.num_tokens == length
    assert model.backbone.attn_maps.levels == (1, 2)
    # widths follow from the UNet (derived when built), never repeated
    assert 'in_channels' not in model.decode_head
    assert 'embed_dim' not in model.conditioner
    assert set(model.backbone.unet) == set(model.backbone.vae) == {'preset'}
    head = model.decode_head
    assert head.num_classes == 2 and head.align_corners
    assert head.loss_decode.class_weight == [0.9, 1.1]
    dp = model.data_preprocessor
    assert dp.mean == dp.std == [127.5] * 3 and dp.bgr_to_rgb
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[loader].dataset
        assert DATASETS.get(ds.type) is not None
        kinds = [t.type for t in ds.pipeline]
        assert 'RandomFlip' not in kinds
        for t in ds.pipeline:
            assert TRANSFORMS.get(t.type) is not None, t.type
        assert 'text' in ds.pipeline[-1].meta_keys
    assert cfg.val_dataloader.dataset.test_mode
    assert METRICS.get(cfg.val_evaluator.type) is not None
    name = _name(path)
    if name in OFFICIAL:
        dataset, split_by, official_len = OFFICIAL[name]
        assert length == official_len
        assert model.backbone.unet.preset == 'sd15'
        assert model.backbone.timestep == 1
        assert model.conditioner.gamma_init == 1e-4
        assert head.channels == 640
        assert head.norm_cfg.type == 'SyncBN'
        for loader in ('train_dataloader', 'val_dataloader'):
            ds = cfg[loader].dataset
            assert (ds.dataset, ds.split_by) == (dataset, split_by)
            resize = [t for t in ds.pipeline if t.type == 'Resize'][0]
            assert resize.scale == (512, 512) and not resize.keep_ratio
            assert resize.backend == 'pillow'
        assert cfg.val_dataloader.dataset.split == 'val'
        assert cfg.val_evaluator.resolution == 'input'


@pytest.mark.parametrize('path', [p for p in CONFIGS if _name(p) in OFFICIAL],
                         ids=_name)
def test_official_recipe(path):
    cfg = Config.fromfile(path)
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW' and opt.lr == 5e-5
    assert opt.weight_decay == 1e-2 and opt.betas == (0.9, 0.999)
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert 'backbone.unet' not in keys  # lr_scale is never read: full lr
    assert cfg.train_cfg.max_epochs == 40 and cfg.train_cfg.val_interval == 1
    (poly, ) = cfg.param_scheduler
    assert poly.type == 'PolyLR' and poly.power == 0.9 and poly.eta_min == 0
    assert poly.by_epoch and poly.convert_to_iter_based and poly.end == 40
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.train_dataloader.drop_last
    assert cfg.auto_scale_lr.base_batch_size == 32
    ckpt = cfg.default_hooks.checkpoint
    assert ckpt.save_best == 'oIoU' and ckpt.rule == 'greater'


def test_schedule_matches_official_lambda():
    """mmengine's PolyLR over 40 converted epochs against the reference's
    LambdaLR (1 - it / total) ** 0.9 stepped per iteration."""
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'schedules',
                                   'refer_40e.py'))
    epoch_len = 25
    total = 40 * epoch_len
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=5e-5)
    sched = PARAM_SCHEDULERS.build(
        dict(cfg.param_scheduler[0], optimizer=OptimWrapper(opt)),
        default_args=dict(epoch_length=epoch_len))
    for it in range(total - 1):
        official = 5e-5 * (1 - it / total)**0.9
        assert opt.param_groups[0]['lr'] == pytest.approx(
            official, rel=2.0 / (total - it)), it
        sched.step()


def test_no_decay_groups_follow_the_official_name_rule():
    """No weight decay exactly on the parameters whose ldm name contains
    "norm" (the reference's rule), none on the VAE, full lr everywhere."""
    from mmengine.optim import build_optim_wrapper

    from vpd.models.backbones.sd_weights import unet_state_dict_to_ldm
    cfg = tinyfy(Config.fromfile(osp.join(ROOT, 'configs', 'vpd', list(
        OFFICIAL)[0])))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[id(p)] = group['weight_decay']
            assert group['lr'] == pytest.approx(5e-5) or not p.requires_grad
    unet = model.backbone.unet
    sd = dict(unet.state_dict(keep_vars=True))
    ldm = unet_state_dict_to_ldm(sd, dict(unet.config))
    ptr = {v.untyped_storage().data_ptr(): k for k, v in ldm.items()}
    checked = 0
    for name, p in unet.named_parameters():
        ldm_name = ptr[p.untyped_storage().data_ptr()]
        want = 0.0 if 'norm' in ldm_name else 1e-2
        assert decay[id(p)] == pytest.approx(want), (name, ldm_name)
        checked += 1
    assert checked > 100
    head_bn = model.decode_head.bn1_4.weight
    assert decay[id(head_bn)] == pytest.approx(1e-2)  # as the reference


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_builds_tiny_and_runs(path):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    cfg = tinyfy(Config.fromfile(path))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    length = cfg.model.conditioner.token_length
    assert model.backbone.out_channels == [32, 64 + length, 64 + length, 64]
    # derived: the decoder reads the backbone's widths (K = L attention-map
    # channels at 1/16 and 1/32), the conditioner the cross-attention width
    assert model.decode_head.in_channels == model.backbone.out_channels
    assert model.conditioner.embed_dim == 32
    assert model.conditioner.num_tokens == length
    assert not any('clip' in k.lower() or 'text_model' in k
                   for k in model.state_dict())
    texts = ['the red square on the left', 'the dog']
    samples = []
    for t in texts:
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(48, 80),
                                        pad_shape=(64, 64), text=t))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, 64, 64)))
        samples.append(s)
    x = torch.randn(2, 3, 64, 64)
    losses = model.loss(x, samples)
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    assert torch.isfinite(losses['decode.loss_ce'])
    model.eval()
    with torch.no_grad():
        logits = model(x, samples, mode='tensor')
        out = model.predict(x, samples)
    assert logits.shape == (2, 2, 8, 8)  # stride 8
    assert out[0].pred_sem_seg.shape == (48, 80)  # back to the image
    assert out[0].pred_sem_seg_input.shape == (64, 64)  # network input
    # the sentence conditions the output
    other = [SegDataSample(metainfo=dict(s.metainfo, text='the cat'))
             for s in samples]
    with torch.no_grad():
        assert not torch.allclose(model(x, other, mode='tensor'), logits)
