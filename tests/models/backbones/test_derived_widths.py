"""Widths that follow from the backbone are derived; a disagreeing explicit
value stops the build naming both keys and values (depth and seg)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from vpd.models.backbones.derived_widths import derive_head_cfg
from vpd.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
QUICK = osp.join(ROOT, 'configs', 'quickstart')
CONFIGS = {
    'vpd-depth': 'vpd_tiny_1xb8-150_synthetic-depth-96x128.py',
    'vpd-seg': 'vpd_tiny-fpn_1xb4-300_synthetic-seg-64x64.py',
    'mp-depth': 'meta-prompts_tiny_1xb4-300_synthetic-depth-96x128.py',
    'mp-seg': 'meta-prompts_tiny-upernet_1xb4-300_synthetic-seg-64x64.py',
}


def _model_cfg(name, **options):
    cfg = Config.fromfile(osp.join(QUICK, CONFIGS[name]))
    cfg.merge_from_dict(dict(options, **{'model.backbone.pretrained': None}))
    return cfg.model


@pytest.mark.parametrize('name', ['vpd-seg', 'mp-seg'])
def test_cfg_options_change_the_architecture_only(name):
    """``--cfg-options model.backbone.unet.block_out_channels=[...]`` (and
    a wider cross-attention) is all it takes; every part follows. (The
    depth models: tests/tools/test_other_backbones.py trains them so.)"""
    model_cfg = _model_cfg(
        name, **{'model.backbone.unet.block_out_channels': [16, 32, 48, 48],
                 'model.backbone.unet.cross_attention_dim': 24})
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    k = model.backbone.attn_cfg['num_tokens'] if model.backbone.attn_cfg \
        else 0
    assert model.backbone.out_channels == [16, 32 + k, 48 + k, 48]
    assert list(model.neck.in_channels) == model.backbone.out_channels
    if name.startswith('mp'):
        assert model.conditioner.embed_dim == model.neck.embed_dim == 24
        assert model.conditioner.time_embed_dim == 64  # 4 x 16
    else:
        assert model.conditioner.class_embeddings.shape[1] == 24
    model.eval()
    with torch.no_grad():  # the widths fit at run time too
        out = model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert out.shape[0] == 1


@pytest.mark.parametrize('name, key, value, expected', [
    ('vpd-depth', 'decode_head.in_channels', 100,
     r'model\.decode_head\.in_channels=100 disagrees with the output of '
     r'model\.neck .* = 128'),
    ('mp-depth', 'conditioner.time_embed_dim', 1280,
     r'model\.conditioner\.time_embed_dim=1280 disagrees with the UNet '
     r'time-embedding width .* = 128'),
    ('vpd-depth', 'conditioner.embed_dim', 768,
     r'model\.conditioner\.embed_dim=768 disagrees with '
     r'model\.backbone\.unet\.cross_attention_dim = 32'),
    ('mp-seg', 'auxiliary_head.in_channels', 150,
     r'model\.auxiliary_head\.in_channels=150 disagrees with the outputs '
     r'of model\.neck .* = 64'),
])
def test_disagreeing_explicit_width_names_both(name, key, value, expected):
    model_cfg = _model_cfg(name, **{f'model.{key}': value})
    with pytest.raises(ValueError, match=expected):
        MODELS.build(model_cfg)


def test_head_inputs_follow_mmseg_selection():
    widths = [8, 16, 32, 64]
    src = 'test'
    assert derive_head_cfg(dict(type='FCNHead', in_index=2, channels=4,
                                num_classes=2), widths, 'h',
                           src)['in_channels'] == 32
    assert derive_head_cfg(dict(type='UPerHead', in_index=[0, 1, 2, 3],
                                channels=4, num_classes=2), widths, 'h',
                           src)['in_channels'] == widths
    concat = dict(type='FCNHead', in_index=[1, 2], channels=4,
                  num_classes=2, input_transform='resize_concat')
    assert derive_head_cfg(concat, widths, 'h', src)['in_channels'] == 48
    assert derive_head_cfg(dict(type='VPDDepthHead'), 64, 'h',
                           src)['in_channels'] == 64
    # an explicit equal value is kept; the input config is not modified
    given = dict(type='FCNHead', in_index=2, in_channels=32, channels=4,
                 num_classes=2)
    assert derive_head_cfg(given, widths, 'h', src) == given
    with pytest.raises(ValueError, match=r'h\.in_index=7 selects levels'):
        derive_head_cfg(dict(type='FCNHead', in_index=7, channels=4,
                             num_classes=2), widths, 'h', src)
