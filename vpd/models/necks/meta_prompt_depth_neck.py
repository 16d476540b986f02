"""The Meta Prompts depth neck: all scales to 1/8, fuse, re-arrange."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_

from vpd.registry import MODELS
from .prompt_rearrange import PromptRearrange

#: How the official Meta Prompts depth checkpoint (``fudan-zvg/meta-prompts``
#: ``MetaPromptDepth``, ``{'model': state_dict}``, ``module.`` stripped) maps
#: onto a :class:`DiffusionDepthEstimator` with this neck, one prefix to one
#: prefix: ``(official prefix, our prefix, rule)`` as
#: ``OFFICIAL_VPD_SEG_KEY_MAP`` (first match wins; use
#: ``vpd.models.conditioners.meta_prompt_conditioner.map_official_key``).
#: Together with ``OFFICIAL_MP_CONDITIONER_KEY_MAP['depth']`` (prompts,
#: adapters, time vectors) it covers every key of the official file. Rules:
#: ``'same'`` copy; ``'ldm-unet'`` / ``'ldm-vae'`` the remainder is an ldm
#: UNet / AutoencoderKL key, renamed to diffusers names by
#: ``vpd.models.backbones.sd_weights.convert_ldm_to_diffusers`` (the UNet's
#: ``out.0`` / ``out.2`` become ``conv_norm_out`` / ``conv_out``; the depth
#: model deleted ``time_embed``); ``'duplicate'``: the reference saves the
#: UNet's ``out`` again as ``cross_unet_conv2`` and ``cross_unet_conv3``
#: (one module, three names): the same tensors as ``out``, load once and
#: check they are equal.
OFFICIAL_MP_DEPTH_KEY_MAP: Tuple[Tuple[str, str, str], ...] = (
    ('encoder.encoder_vq.', 'backbone.vae.', 'ldm-vae'),
    ('encoder.unet.unet.diffusion_model.', 'backbone.unet.', 'ldm-unet'),
    *((f'encoder.cross_unet_conv{i}.{j}.', f'backbone.unet.{name}.',
       'duplicate') for i in range(2, 4)
      for j, name in ((0, 'conv_norm_out'), (2, 'conv_out'))),
    *((f'encoder.layer{i}.', f'neck.layer{i}.', 'same') for i in range(1, 5)),
    ('encoder.out_layer.', 'neck.out_layer.', 'same'),
    ('decoder.', 'decode_head.', 'same'),  # deconv_layers, conv_layers
    ('last_layer_depth.', 'decode_head.last_layer_depth.', 'same'),
)


class _UpsampleBlock(nn.Module):
    """``n`` x (deconv k4 s2 - BN - ReLU), then conv3x3 - BN - ReLU.

    The reference's ``Decoder`` used to bring a coarse level to 1/8
    (attribute names ``deconv_layers`` / ``conv_layers`` kept for the
    checkpoint mapping).
    """

    def __init__(self, in_channels: int, out_channels: int, num_deconv: int,
                 num_filters: int) -> None:
        super().__init__()
        layers = []
        c = in_channels
        for _ in range(num_deconv):
            layers += [
                nn.ConvTranspose2d(c, num_filters, 4, stride=2, padding=1,
                                   bias=False),
                nn.BatchNorm2d(num_filters),
                nn.ReLU(inplace=True)
            ]
            c = num_filters
        self.deconv_layers = nn.Sequential(*layers)
        self.conv_layers = nn.Sequential(
            nn.Conv2d(c, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_layers(self.deconv_layers(x))


@MODELS.register_module()
class MetaPromptDepthNeck(nn.Module):
    """Fuses the UNet pyramid at 1/8 and re-arranges it by the prompts.

    ``layer1`` (conv3x3 - GN - ReLU) keeps the 1/8 map; ``layer2``,
    ``layer3``, ``layer4`` bring the 1/16, 1/32, 1/64 maps to 1/8 with 1, 2
    and 3 deconvolutions (k4 s2, ``num_filters`` channels, BN, ReLU) and a
    conv3x3 - BN - ReLU back to the level's width. The concatenation
    (3520 channels for SD1.5) goes through ``out_layer`` (conv3x3 to the
    prompt width - GN - ReLU) and the feature re-arrangement with the
    prompts (``einsum('bchw,bnc->bnhw')``), giving one 1/8 map per prompt.
    Initialisation as the reference: convs (not deconvs) truncated normal
    std 0.02, zero bias.

    Called as ``neck(feats, prompts)`` (``uses_prompts = True``).

    Args:
        in_channels (Sequence[int]): Channels of the four levels, finest
            first. Defaults to (320, 640, 1280, 1280).
        embed_dim (int): Prompt width C (the UNet's cross-attention width).
            Defaults to 768.
        num_filters (int): Deconvolution width of ``layer2..4``.
            Defaults to 32.
        num_groups (int): GroupNorm groups. Defaults to 16.
    """

    uses_prompts = True

    def __init__(self,
                 in_channels: Sequence[int] = (320, 640, 1280, 1280),
                 embed_dim: int = 768,
                 num_filters: int = 32,
                 num_groups: int = 16) -> None:
        super().__init__()
        if len(in_channels) != 4:
            raise ValueError('in_channels needs the four pyramid levels, got '
                             f'{list(in_channels)}')
        c0, c1, c2, c3 = (int(c) for c in in_channels)
        self.in_channels = [c0, c1, c2, c3]
        self.embed_dim = int(embed_dim)
        self.layer1 = nn.Sequential(
            nn.Conv2d(c0, c0, 3, padding=1), nn.GroupNorm(num_groups, c0),
            nn.ReLU())
        self.layer2 = _UpsampleBlock(c1, c1, 1, num_filters)
        self.layer3 = _UpsampleBlock(c2, c2, 2, num_filters)
        self.layer4 = _UpsampleBlock(c3, c3, 3, num_filters)
        self.out_layer = nn.Sequential(
            nn.Conv2d(c0 + c1 + c2 + c3, self.embed_dim, 3, padding=1),
            nn.GroupNorm(num_groups, self.embed_dim), nn.ReLU())
        self.rearrange = PromptRearrange()
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    @staticmethod
    def output_channels(num_prompts: int) -> int:
        """Channels of the output: one 1/8 map per prompt (``N``)."""
        return int(num_prompts)

    def fuse(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """The fused 1/8 pixel features ``[B, embed_dim, H/8, W/8]``."""
        if len(feats) != 4:
            raise ValueError(f'Expected 4 pyramid levels, got {len(feats)}')
        f8, f16, f32, f64 = feats
        x = torch.cat([
            self.layer1(f8),
            self.layer2(f16),
            self.layer3(f32),
            self.layer4(f64)
        ], dim=1)
        return self.out_layer(x)

    def forward(self, feats: List[torch.Tensor],
                prompts: torch.Tensor) -> torch.Tensor:
        """Re-arranged maps ``[B, N, H/8, W/8]``.

        Args:
            feats (list[Tensor]): ``[1/8, 1/16, 1/32, 1/64]`` UNet features.
            prompts (Tensor): ``[B, N, embed_dim]`` (adapted) prompts of the
                last refinement loop.
        """
        return self.rearrange(self.fuse(feats), prompts)
