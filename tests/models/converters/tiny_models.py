"""Tiny models of every released layout, for the converter tests.

Tiny SD-shaped UNet/VAE preset (cross-attention width 32), necks and heads
with the reference's structure at reduced widths. GroupNorm widths stay
divisible by 16 because the references hard-code ``GroupNorm(16, ...)``.
"""
import os.path as osp

import torch

from vpd.registry import MODELS

C = 32  # tiny cross-attention width
TINY = [32, 64, 64, 64]  # tiny pyramid widths
UNET_GROUPS = 8  # GroupNorm groups of the tiny UNet preset
K = 5  # classes of the tiny segmentors
N = 8  # prompts of the tiny Meta Prompts models
NYU_IDS = {'kitchen': 6, 'bathroom': 1}  # VPD's nyu_class_list.json order
PRE = dict(type='SegDataPreProcessor', mean=[127.5] * 3, std=[127.5] * 3,
           bgr_to_rgb=True)


def nyu_classes():
    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    return Config.fromfile(osp.join(
        root, 'configs/_base_/models/vpd_depth_sd15.py')).nyu_scene_classes


def vpd_depth_cfg():
    return dict(
        type='DiffusionDepthEstimator', data_preprocessor=PRE,
        backbone=dict(type='StableDiffusionBackbone', unet='tiny',
                      vae='tiny'),
        conditioner=dict(type='ClassEmbeddingConditioner', num_classes=27,
                         embed_dim=C, mode='per_image',
                         class_names=nyu_classes()),
        neck=dict(type='VPDDepthNeck', in_channels=TINY, out_channels=64,
                  num_groups=16),
        decode_head=dict(type='VPDDepthHead', in_channels=64, channels=32,
                         num_filters=[16, 16, 16]),
        input_mode='pad')


def mp_depth_cfg(num_loops=3):
    return dict(
        type='DiffusionDepthEstimator', data_preprocessor=PRE,
        backbone=dict(type='StableDiffusionBackbone', unet='tiny',
                      vae='tiny', use_time_embed=False, num_loops=num_loops),
        conditioner=dict(type='MetaPromptConditioner', num_prompts=N,
                         embed_dim=C, num_loops=num_loops,
                         time_embed_dim=128),
        neck=dict(type='MetaPromptDepthNeck', in_channels=TINY,
                  embed_dim=C, num_filters=16, num_groups=16),
        decode_head=dict(type='VPDDepthHead', in_channels=N, channels=32,
                         num_filters=[16, 16, 16], num_upsample=0),
        input_mode='resize', resize_scale=0)


BN = dict(type='BN', requires_grad=True)
FPN = dict(type='FPN', in_channels=[32, 64 + K, 64 + K, 64],
           out_channels=32, num_outs=4)
FPN_HEAD = dict(type='FPNHead', in_channels=[32] * 4, in_index=[0, 1, 2, 3],
                feature_strides=[8, 16, 32, 64], channels=32,
                dropout_ratio=0.1, num_classes=K, norm_cfg=BN,
                align_corners=False,
                loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))
UPER_HEAD = dict(type='UPerHead', in_channels=[N] * 4, in_index=[0, 1, 2, 3],
                 pool_scales=(1, 2, 3, 6), channels=16, dropout_ratio=0.0,
                 num_classes=K, norm_cfg=BN, align_corners=False,
                 loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))
FCN_HEAD = dict(type='FCNHead', in_channels=N, in_index=2, channels=16,
                num_convs=1, concat_input=False, dropout_ratio=0.0,
                num_classes=K, norm_cfg=BN, align_corners=False,
                loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4))


def vpd_seg_cfg():
    return dict(
        type='DiffusionSegmentor', data_preprocessor=PRE,
        backbone=dict(type='StableDiffusionBackbone', unet='tiny',
                      vae='tiny', crop_output=True,
                      attn_maps=dict(num_tokens=K, levels=(1, 2),
                                     blocks=('down', 'up'))),
        conditioner=dict(type='ClassEmbeddingConditioner', num_classes=K,
                         embed_dim=C, mode='all'),
        neck=FPN, decode_head=FPN_HEAD, test_cfg=dict(mode='whole'))


def mp_seg_cfg():
    return dict(
        type='DiffusionSegmentor', data_preprocessor=PRE,
        backbone=dict(type='StableDiffusionBackbone', unet='tiny',
                      vae='tiny', use_time_embed=False, num_loops=3,
                      crop_output=True),
        conditioner=dict(type='MetaPromptConditioner', num_prompts=N,
                         embed_dim=C, num_loops=3, share_prompts=True,
                         use_adapter=False, time_embed_dim=128),
        neck=dict(type='MetaPromptSegNeck', in_channels=TINY, embed_dim=C,
                  num_groups=16),
        decode_head=UPER_HEAD, auxiliary_head=FCN_HEAD,
        test_cfg=dict(mode='whole'))


def randomize_(model, seed):
    """Give every float parameter/buffer a non-trivial random value, so a
    mis-mapped tensor shows in the output (default inits are near-constant:
    std 0.001 heads, unit norms, zero biases)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(('running_mean', 'bias')):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.ndim == 1:
                t.copy_(1 + torch.randn(t.shape, generator=g) * 0.1)
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) / fan_in**0.5)
    return model


def build(cfg, seed):
    torch.manual_seed(seed)
    return MODELS.build(cfg).eval()
