"""MetaPromptDepthNeck and MetaPromptSegNeck on tiny pyramids."""
import pytest
import torch
import torch.nn.functional as F

from vpd.models.necks import MetaPromptDepthNeck, MetaPromptSegNeck
from vpd.registry import MODELS

TINY = [32, 64, 64, 64]  # tiny preset widths; cross-attention width 32


def test_depth_neck_shapes_and_fusion():
    torch.manual_seed(0)
    neck = MODELS.build(dict(type='MetaPromptDepthNeck', in_channels=TINY,
                             embed_dim=32))
    assert neck.uses_prompts
    feats = [torch.randn(2, 32, 16, 24), torch.randn(2, 64, 8, 12),
             torch.randn(2, 64, 4, 6), torch.randn(2, 64, 2, 3)]
    prompts = torch.randn(2, 50, 32)
    out = neck(feats, prompts)
    assert out.shape == (2, 50, 16, 24)  # all scales at 1/8
    # every level is brought to 1/8 before the concatenation
    assert neck.layer2(feats[1]).shape == (2, 64, 16, 24)
    assert neck.layer3(feats[2]).shape == (2, 64, 16, 24)
    assert neck.layer4(feats[3]).shape == (2, 64, 16, 24)
    assert neck.out_layer[0].in_channels == sum(TINY)
    fused = neck.fuse(feats)
    assert fused.shape == (2, 32, 16, 24)
    torch.testing.assert_close(
        out, torch.einsum('bchw,bnc->bnhw', fused, prompts))


def test_depth_neck_layout_for_checkpoint_mapping():
    neck = MetaPromptDepthNeck()  # SD1.5 sizes
    assert neck.out_layer[0].in_channels == 3520
    assert neck.out_layer[0].out_channels == 768
    assert neck.out_layer[0].kernel_size == (3, 3)
    # layer{2,3,4}: 1, 2, 3 deconvs (k4 s2 to 32) then conv back to width
    for name, n, c in (('layer2', 1, 640), ('layer3', 2, 1280),
                       ('layer4', 3, 1280)):
        layer = getattr(neck, name)
        deconvs = [m for m in layer.deconv_layers
                   if isinstance(m, torch.nn.ConvTranspose2d)]
        assert len(deconvs) == n
        assert all(d.kernel_size == (4, 4) and d.stride == (2, 2)
                   and d.out_channels == 32 for d in deconvs)
        assert layer.conv_layers[0].out_channels == c
    keys = set(neck.state_dict())
    assert {'layer1.0.weight', 'layer1.1.weight',
            'layer2.deconv_layers.0.weight',
            'layer2.conv_layers.1.running_var',
            'layer4.deconv_layers.6.weight', 'out_layer.1.bias'} <= keys


def test_seg_neck_shapes_and_maps():
    torch.manual_seed(0)
    neck = MODELS.build(dict(type='MetaPromptSegNeck', in_channels=TINY,
                             embed_dim=32))
    assert neck.uses_prompts
    feats = [torch.randn(2, 32, 8, 8), torch.randn(2, 64, 4, 4),
             torch.randn(2, 64, 2, 2), torch.randn(2, 64, 1, 1)]
    prompts = torch.randn(2, 150, 32)
    outs = neck(feats, prompts)
    assert [tuple(o.shape) for o in outs] == [(2, 150, 16, 16),
                                              (2, 150, 8, 8), (2, 150, 4, 4),
                                              (2, 150, 2, 2)]
    # x2 bilinear, then conv-GN-ReLU, then the re-arrangement
    up = F.interpolate(feats[2], scale_factor=2, mode='bilinear',
                       align_corners=False)
    proj = neck.upconv3(up)
    torch.testing.assert_close(
        outs[2], torch.einsum('bchw,bnc->bnhw', proj, prompts))
    assert set(neck.state_dict()) == {
        f'upconv{i}.{j}.{p}' for i in range(1, 5) for j in (0, 1)
        for p in ('weight', 'bias')}


def test_neck_errors():
    with pytest.raises(ValueError, match='four pyramid levels'):
        MetaPromptDepthNeck(in_channels=[32, 64, 64])
    neck = MetaPromptSegNeck(in_channels=TINY, embed_dim=32)
    with pytest.raises(ValueError, match='Expected 4 levels'):
        neck([torch.randn(1, 32, 4, 4)], torch.randn(1, 5, 32))
