"""Minimal re-implementations of the released models' forward passes.

Written for the converter tests from a reading of the reference code
(``wl-zhao/VPD`` ``depth/models_depth/model.py``, ``vpd/models.py``,
``segmentation/models/vpd_seg.py``, ``refer/models_refer/model.py``,
``refer/lib/mask_predictor.py``; ``fudan-zvg/meta-prompts``
``depth/models_depth/model.py``, ``meta_prompts/models.py``,
``segmentation/models/model.py``; mmsegmentation 1.2.2
``mmseg/models/backbones/vpd.py``, ``decode_heads/vpd_depth_head.py``).
Each function reads every weight outside Stable Diffusion **by its official
name** from an official-layout state dict and computes with plain torch ops
(``F.conv2d``, ``F.group_norm``, ...), independently of the project's necks,
heads and conditioners. The UNet and VAE (whose key renaming is diffusers'
own ``convert_ldm_*_checkpoint``) are taken from a project backbone:
``backbone.encode`` (VAE latent, distribution mode),
``backbone.time_embedding`` (the UNet time MLP at t = 1) and
``backbone.unet_features`` (one UNet pass returning ldm output blocks 11, 7,
4, 1, with cross-attention maps when the backbone records them).

Mmseg's own FPN / FPNHead / UPerHead / FCNHead, which the reference
segmentors build from mmseg, are instantiated afresh from mmseg and loaded
strictly from the official ``neck.*`` / ``decode_head.*`` /
``auxiliary_head.*`` sub-dicts.

The module also records, per format, the module prefixes the reference
model's state dict has (:data:`OFFICIAL_PREFIXES`), read from the reference
constructors.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

StateDict = Dict[str, torch.Tensor]

# ---------------------------------------------------------------------------
# The reference models' state-dict prefixes (first path components), from
# their constructors: what is created, deleted (``del ...``) or kept.
# ---------------------------------------------------------------------------
_LDM_UNET = ('input_blocks', 'middle_block', 'output_blocks')
_LDM_VAE_ENC = ('encoder', 'quant_conv', 'post_quant_conv')


def _prefixed(prefix: str, names: Sequence[str]) -> List[str]:
    return [prefix + n for n in names]


OFFICIAL_PREFIXES: Dict[str, List[str]] = {
    # VPDDepth: encoder (VPDDepthEncoder: layer1, layer2, out_layer, the ldm
    # first stage with its decoder deleted, UNetWrapper with `out` deleted,
    # text_adapter, class_embeddings buffer, gamma), decoder, last_layer_depth.
    'vpd-depth': (
        _prefixed('encoder.encoder_vq.', _LDM_VAE_ENC) +
        _prefixed('encoder.unet.unet.diffusion_model.',
                  _LDM_UNET + ('time_embed', )) + [
            'encoder.class_embeddings', 'encoder.gamma',
            'encoder.text_adapter.fc', 'encoder.layer1', 'encoder.layer2',
            'encoder.out_layer', 'decoder.deconv_layers',
            'decoder.conv_layers', 'last_layer_depth'
        ]),
    # VPDSeg: encoder_vq (decoder deleted), unet (UNetWrapper, `out` kept),
    # sd_model (noise-schedule buffers; not written by to_official),
    # class_embeddings, gamma, text_adapter, neck (FPN), decode_head.
    'vpd-seg': (
        _prefixed('encoder_vq.', _LDM_VAE_ENC) +
        _prefixed('unet.unet.diffusion_model.',
                  _LDM_UNET + ('time_embed', 'out')) + [
            'class_embeddings', 'gamma', 'text_adapter.fc',
            'neck.lateral_convs', 'neck.fpn_convs', 'decode_head.scale_heads',
            'decode_head.conv_seg'
        ]),
    # MetaPromptDepthEncoder: layer1..4, out_layer, t{i}, meta_prompts{i},
    # text_adapter{i}, cross_unet_conv{i>1} (= the UNet's `out`), the ldm
    # first stage (decoder deleted), the UNet with time_embed deleted.
    'metaprompts-depth': (
        _prefixed('encoder.encoder_vq.', _LDM_VAE_ENC) +
        _prefixed('encoder.unet.unet.diffusion_model.', _LDM_UNET +
                  ('out', )) + [
            'encoder.layer1', 'encoder.layer2', 'encoder.layer3',
            'encoder.layer4', 'encoder.out_layer', 'encoder.cross_unet_conv2',
            'encoder.cross_unet_conv3', 'decoder.deconv_layers',
            'decoder.conv_layers', 'last_layer_depth'
        ] + [f'encoder.{n}{i}' for i in (1, 2, 3)
             for n in ('t', 'meta_prompts')] +
        [f'encoder.text_adapter{i}.fc' for i in (1, 2, 3)]),
    # MetaPromptsSeg: cross_unet_conv{i>1}, t{i}, meta_prompts, encoder_vq
    # (decoder deleted), unet (everything kept), sd_model, upconv1..4, heads.
    'metaprompts-seg': (
        _prefixed('encoder_vq.', _LDM_VAE_ENC) +
        _prefixed('unet.unet.diffusion_model.',
                  _LDM_UNET + ('time_embed', 'out')) + [
            'cross_unet_conv2', 'cross_unet_conv3', 't1', 't2', 't3',
            'meta_prompts', 'upconv1', 'upconv2', 'upconv3', 'upconv4',
            'decode_head.psp_modules', 'decode_head.bottleneck',
            'decode_head.lateral_convs', 'decode_head.fpn_convs',
            'decode_head.fpn_bottleneck', 'decode_head.conv_seg',
            'auxiliary_head.convs', 'auxiliary_head.conv_seg'
        ]),
    # VPDRefer: encoder_vq (ldm first stage, decoder deleted), unet
    # (UNetWrapper around the whole ldm UNet: time_embed and out kept),
    # text_adapter (TextAdapterRefer), classifier (SimpleDecoding), gamma.
    # No CLIP weights (the text model lives outside VPDRefer).
    'vpd-refer': (
        _prefixed('encoder_vq.', _LDM_VAE_ENC) +
        _prefixed('unet.unet.diffusion_model.',
                  _LDM_UNET + ('time_embed', 'out')) +
        ['gamma', 'text_adapter.fc', 'classifier.conv1_1'] +
        [f'classifier.{kind}{i}_{lvl}' for lvl in (4, 3, 2)
         for i in (1, 2) for kind in ('conv', 'bn')]),
    # mmseg DepthEstimator: backbone (VPD: the whole first stage, decoder
    # included; UNetWrapper with `out`; K + 1 class embeddings; gamma;
    # text_adapter) and decode_head (VPDDepthHead).
    'mmseg-vpd-depth': (
        _prefixed('backbone.encoder_vq.', _LDM_VAE_ENC + ('decoder', )) +
        _prefixed('backbone.unet.unet.diffusion_model.',
                  _LDM_UNET + ('time_embed', 'out')) + [
            'backbone.class_embeddings', 'backbone.gamma',
            'backbone.text_adapter.fc', 'decode_head.conv1',
            'decode_head.conv2', 'decode_head.conv_aggregation',
            'decode_head.decoder.deconv_layers',
            'decode_head.decoder.conv_layers', 'decode_head.depth_pred_layer'
        ]),
}


def key_prefixes(state: StateDict, prefixes: Sequence[str]) -> set:
    """The entries of ``prefixes`` that some key of ``state`` starts with,
    and the keys that match none of them (as ``'?' + key``)."""
    found = set()
    for key in state:
        hits = [p for p in prefixes if key == p or key.startswith(p + '.')]
        found.update(hits) if hits else found.add('?' + key)
    return found


# ---------------------------------------------------------------------------
# plain-op building blocks on official names
# ---------------------------------------------------------------------------
def conv(sd: StateDict, name: str, x: torch.Tensor, stride: int = 1,
         padding: Optional[int] = None) -> torch.Tensor:
    w = sd[name + '.weight']
    pad = w.shape[-1] // 2 if padding is None else padding
    return F.conv2d(x, w, sd.get(name + '.bias'), stride=stride, padding=pad)


def deconv(sd: StateDict, name: str, x: torch.Tensor) -> torch.Tensor:
    """Simple Baseline deconvolution (stride 2, no bias)."""
    w = sd[name + '.weight']
    k = w.shape[-1]
    padding, out_pad = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[k]
    return F.conv_transpose2d(x, w, None, stride=2, padding=padding,
                              output_padding=out_pad)


def gn(sd: StateDict, name: str, x: torch.Tensor, groups: int
       ) -> torch.Tensor:
    return F.group_norm(x, groups, sd[name + '.weight'], sd[name + '.bias'],
                        eps=1e-5)


def bn(sd: StateDict, name: str, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, sd[name + '.running_mean'],
                        sd[name + '.running_var'], sd[name + '.weight'],
                        sd[name + '.bias'], training=False, eps=1e-5)


def mlp(sd: StateDict, name: str, x: torch.Tensor) -> torch.Tensor:
    """``fc`` = Linear - GELU - Linear (``name.0``, ``name.2``)."""
    x = F.linear(x, sd[name + '.0.weight'], sd[name + '.0.bias'])
    return F.linear(F.gelu(x), sd[name + '.2.weight'], sd[name + '.2.bias'])


def simple_baseline_decoder(sd: StateDict, name: str, x: torch.Tensor,
                            num_deconv: int) -> torch.Tensor:
    """``deconv_layers`` (deconv - BN - ReLU) x n, ``conv_layers``."""
    for i in range(num_deconv):
        x = F.relu(bn(sd, f'{name}.deconv_layers.{3 * i + 1}',
                      deconv(sd, f'{name}.deconv_layers.{3 * i}', x)))
    return F.relu(bn(sd, f'{name}.conv_layers.1',
                     conv(sd, f'{name}.conv_layers.0', x)))


def depth_layer(sd: StateDict, name: str, x: torch.Tensor,
                max_depth: float) -> torch.Tensor:
    """conv3x3 - ReLU - conv3x3, ``sigmoid * max_depth``."""
    x = conv(sd, f'{name}.2', F.relu(conv(sd, f'{name}.0', x)))
    return torch.sigmoid(x) * max_depth


def _pad_like_reference(x: torch.Tensor):
    """VPD pads 480 -> 512 and 352 -> 384 (32 below a multiple of 64) with
    zeros after normalisation and later crops one row/col of the 1/32 map;
    512 is used as is. The same rule for any size."""
    h, w = x.shape[-2:]
    if h % 64 == 0 and w % 64 == 0:
        return x, False
    if h % 64 != 32 or w % 64 != 32:
        raise ValueError(f'this re-implementation follows the reference '
                         f'sizes only: multiples of 64, or 32 below one (as '
                         f'480 and 352); got {h}x{w}')
    return F.pad(x, (0, 32, 0, 32)), True


# ---------------------------------------------------------------------------
# depth models
# ---------------------------------------------------------------------------
def vpd_depth(sd: StateDict, x: torch.Tensor, class_ids: Sequence[int],
              backbone, max_depth: float = 10.0) -> torch.Tensor:
    """Official ``VPDDepth.forward`` on normalised images ``x`` ([-1, 1]).

    Args:
        sd (dict): ``VPDDepth.state_dict()`` layout (``encoder.*``, ...).
        x (Tensor): ``[B, 3, H, W]``.
        class_ids (Sequence[int]): Scene class per image.
        backbone: Project backbone holding the converted UNet/VAE.
        max_depth (float): Output range.
    """
    b = x.shape[0]
    x, padded = _pad_like_reference(x)
    emb = sd['encoder.class_embeddings'][list(class_ids)]
    ctx = emb + sd['encoder.gamma'] * mlp(sd, 'encoder.text_adapter.fc', emb)
    ctx = ctx[:, None]  # TextAdapterDepth: 'n c -> n b c' with b = 1
    latent = backbone.encode(x)
    f8, f16, f32, f64 = backbone.unet_features(
        latent, ctx, backbone.time_embedding(b, x.device))
    l1 = conv(sd, 'encoder.layer1.0', f8, stride=2)
    l1 = F.relu(gn(sd, 'encoder.layer1.1', l1, 16))
    l1 = conv(sd, 'encoder.layer1.3', l1, stride=2)
    l2 = conv(sd, 'encoder.layer2.0', f16, stride=2)
    feat = torch.cat([l1, l2, f32, F.interpolate(f64, scale_factor=2)], 1)
    feat = F.relu(gn(sd, 'encoder.out_layer.1',
                     conv(sd, 'encoder.out_layer.0', feat), 16))
    if padded:
        feat = feat[:, :, :-1, :-1]
    out = simple_baseline_decoder(sd, 'decoder', feat, 3)
    for _ in range(2):
        out = F.interpolate(out, scale_factor=2, mode='bilinear',
                            align_corners=False)
    return depth_layer(sd, 'last_layer_depth', out, max_depth)


def mmseg_vpd_depth(sd: StateDict, x: torch.Tensor,
                    class_ids: Sequence[int], backbone,
                    max_depth: float = 10.0) -> torch.Tensor:
    """mmseg 1.2.2 ``VPD`` backbone (``class_embed_select=True``,
    ``pad_shape`` the next multiple of 64) + ``VPDDepthHead``
    (``fmap_border`` one row/col when padded). Class id -1 selects the
    stored mean row."""
    b = x.shape[0]
    x, padded = _pad_like_reference(x)
    emb = sd['backbone.class_embeddings'][list(class_ids)]
    ctx = emb + sd['backbone.gamma'] * mlp(sd, 'backbone.text_adapter.fc',
                                           emb)
    latent = backbone.encode(x)
    f8, f16, f32, f64 = backbone.unet_features(
        latent, ctx[:, None], backbone.time_embedding(b, x.device))
    l1 = conv(sd, 'decode_head.conv1.0', f8, stride=2)
    l1 = F.relu(gn(sd, 'decode_head.conv1.1', l1, 16))
    l1 = conv(sd, 'decode_head.conv1.3', l1, stride=2)
    l2 = conv(sd, 'decode_head.conv2', f16, stride=2)
    feat = torch.cat([l1, l2, f32, F.interpolate(f64, scale_factor=2)], 1)
    feat = F.relu(gn(sd, 'decode_head.conv_aggregation.1',
                     conv(sd, 'decode_head.conv_aggregation.0', feat), 16))
    if padded:
        feat = feat[:, :, :-1, :-1]
    out = simple_baseline_decoder(sd, 'decode_head.decoder', feat, 3)
    for _ in range(2):
        out = F.interpolate(out, scale_factor=2, mode='bilinear',
                            align_corners=False)
    return depth_layer(sd, 'decode_head.depth_pred_layer', out, max_depth)


def _unet_out_conv(sd: StateDict, name: str, x: torch.Tensor,
                   groups: int) -> torch.Tensor:
    """ldm ``out`` = GroupNorm - SiLU - conv3x3 (``name.0``, ``name.2``)."""
    return conv(sd, f'{name}.2', F.silu(gn(sd, f'{name}.0', x, groups)))


def metaprompts_depth(sd: StateDict, x: torch.Tensor, backbone,
                      num_loops: int = 3, resize_scale: int = 1,
                      max_depth: float = 10.0,
                      unet_groups: int = 32) -> torch.Tensor:
    """Official ``MetaPromptDepth.forward`` on normalised images ``x``.

    Each loop: prompts through that loop's adapter (no residual), the loop's
    time vector as the time embedding, loop i > 1 fed the previous loop's
    finest feature through ``cross_unet_conv{i}``; neck layer1..4 to 1/8,
    ``out_layer``, re-arrangement with the last loop's prompts, resize to
    ``H/8``, Simple Baseline decoder (no upsampling), depth layer.

    Args:
        unet_groups (int): GroupNorm groups of the UNet (ldm: 32).
    """
    b, _, h, w = x.shape
    size = ((h // 64 + resize_scale) * 64, (w // 64 + resize_scale) * 64)
    x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
    latent = backbone.encode(x)
    feats = None
    ctx = None
    for i in range(1, num_loops + 1):
        if i > 1:
            latent = _unet_out_conv(sd, f'encoder.cross_unet_conv{i}',
                                    feats[0], unet_groups)
        prompts = mlp(sd, f'encoder.text_adapter{i}.fc',
                      sd[f'encoder.meta_prompts{i}'])
        ctx = prompts[None].expand(b, -1, -1)
        t = sd[f'encoder.t{i}'].repeat(b, 1)
        feats = backbone.unet_features(latent, ctx, t)
    f8, f16, f32, f64 = feats
    l1 = F.relu(gn(sd, 'encoder.layer1.1', conv(sd, 'encoder.layer1.0', f8),
                   16))
    l2 = simple_baseline_decoder(sd, 'encoder.layer2', f16, 1)
    l3 = simple_baseline_decoder(sd, 'encoder.layer3', f32, 2)
    l4 = simple_baseline_decoder(sd, 'encoder.layer4', f64, 3)
    feat = conv(sd, 'encoder.out_layer.0', torch.cat([l1, l2, l3, l4], 1))
    feat = F.relu(gn(sd, 'encoder.out_layer.1', feat, 16))
    feat = torch.einsum('bchw,bnc->bnhw', feat, ctx)
    feat = F.interpolate(feat, size=(h // 8, w // 8), mode='bilinear',
                         align_corners=False)
    out = simple_baseline_decoder(sd, 'decoder', feat, 3)
    return depth_layer(sd, 'last_layer_depth', out, max_depth)


# ---------------------------------------------------------------------------
# segmentation models
# ---------------------------------------------------------------------------
def _sub(sd: StateDict, prefix: str) -> StateDict:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def _mmseg_module(cfg: dict, sd: StateDict, prefix: str):
    from mmseg.registry import MODELS
    module = MODELS.build(dict(cfg))
    module.load_state_dict(_sub(sd, prefix), strict=True)
    return module.eval()


def vpd_seg(sd: StateDict, x: torch.Tensor, backbone, neck_cfg: dict,
            head_cfg: dict) -> torch.Tensor:
    """Official ``VPDSeg`` feature extraction + mmseg FPN + FPNHead logits.

    The context is all class embeddings through the text adapter
    (``x + gamma * fc(x)``), repeated over the batch; the UNet pass records
    the cross-attention maps (the backbone must be built with
    ``attn_maps``).
    """
    b = x.shape[0]
    emb = sd['class_embeddings']
    ctx = emb + sd['gamma'] * mlp(sd, 'text_adapter.fc', emb)
    ctx = ctx[None].expand(b, -1, -1)
    feats = backbone.unet_features(backbone.encode(x), ctx,
                                   backbone.time_embedding(b, x.device))
    neck = _mmseg_module(neck_cfg, sd, 'neck.')
    head = _mmseg_module(head_cfg, sd, 'decode_head.')
    return head(list(neck(feats)))


def metaprompts_seg(sd: StateDict, x: torch.Tensor, backbone,
                    head_cfg: dict, num_loops: int = 3,
                    unet_groups: int = 32) -> torch.Tensor:
    """Official ``MetaPromptsSeg.extract_feat`` + mmseg UPerHead logits.

    One shared prompt set (no adapter), a time vector per loop, loop i > 1
    fed through ``cross_unet_conv{i}``; each level x2 bilinear,
    ``upconv{i}`` (conv3x3 - GN16 - ReLU), re-arranged with the prompts.
    """
    b = x.shape[0]
    latent = backbone.encode(x)
    ctx = sd['meta_prompts'][None].expand(b, -1, -1)
    feats = None
    for i in range(1, num_loops + 1):
        if i > 1:
            latent = _unet_out_conv(sd, f'cross_unet_conv{i}', feats[0],
                                    unet_groups)
        feats = backbone.unet_features(latent, ctx, sd[f't{i}'].repeat(b, 1))
    outs = []
    for i, feat in enumerate(feats, start=1):
        feat = F.interpolate(feat, scale_factor=2, mode='bilinear',
                             align_corners=False)
        feat = F.relu(gn(sd, f'upconv{i}.1', conv(sd, f'upconv{i}.0', feat),
                         16))
        outs.append(torch.einsum('bchw,bnc->bnhw', feat, ctx))
    head = _mmseg_module(head_cfg, sd, 'decode_head.')
    return head(outs)


# ---------------------------------------------------------------------------
# referring segmentation
# ---------------------------------------------------------------------------
def vpd_refer(sd: StateDict, x: torch.Tensor, l_feats: torch.Tensor,
              backbone) -> torch.Tensor:
    """Official ``VPDRefer.forward(img, l_feats)`` on normalised images.

    ``l_feats`` (``[B, L, D]``) is CLIP's ``last_hidden_state`` of the
    padded token ids (``refer/train.py``). ``TextAdapterRefer``: ``c = f +
    gamma * fc(f)``; the UNet runs at t = 1 with context ``c`` (attention
    maps recorded by the backbone); ``SimpleDecoding(c4, c3, c2, c1)``:
    upsample (bilinear, align_corners=True) when smaller, concatenate
    ``[coarse, fine]``, conv3x3 - BN - ReLU twice, and ``conv1_1``; then
    bilinear (align_corners=True) to the input size.
    """
    b = x.shape[0]
    ctx = l_feats + sd['gamma'] * mlp(sd, 'text_adapter.fc', l_feats)
    c1, c2, c3, c4 = backbone.unet_features(
        backbone.encode(x), ctx, backbone.time_embedding(b, x.device))

    def fuse(coarse, fine, level):
        if (coarse.shape[-2] < fine.shape[-2]
                or coarse.shape[-1] < fine.shape[-1]):
            coarse = F.interpolate(coarse, size=fine.shape[-2:],
                                   mode='bilinear', align_corners=True)
        out = torch.cat([coarse, fine], 1)
        for i in (1, 2):
            out = F.relu(bn(sd, f'classifier.bn{i}_{level}',
                            conv(sd, f'classifier.conv{i}_{level}', out)))
        return out

    out = fuse(fuse(fuse(c4, c3, 4), c2, 3), c1, 2)
    out = conv(sd, 'classifier.conv1_1', out)
    return F.interpolate(out, size=x.shape[-2:], mode='bilinear',
                         align_corners=True)
