"""The Meta Prompts segmentation neck: per-level projection, re-arrangement."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from vpd.registry import MODELS
from .prompt_rearrange import PromptRearrange

#: How the official Meta Prompts segmentation checkpoint
#: (``fudan-zvg/meta-prompts`` ``MetaPromptsSeg``, mmcv format, its
#: ``state_dict``) maps onto a ``DiffusionSegmentor`` with this neck, one
#: prefix to one prefix, as ``OFFICIAL_VPD_SEG_KEY_MAP`` (first match wins;
#: use ``vpd.models.conditioners.meta_prompt_conditioner.map_official_key``).
#: Together with ``OFFICIAL_MP_CONDITIONER_KEY_MAP['seg']`` (shared prompts,
#: time vectors) it covers every key of the official file. Rules as
#: ``OFFICIAL_MP_DEPTH_KEY_MAP``; the seg model keeps the UNet's
#: ``time_embed`` in its file although it never runs it (dropped: our UNet
#: has no time MLP), and ``sd_model.*`` holds DDPM noise-schedule buffers
#: (dropped). mmseg 0.x and 1.x ``UPerHead`` / ``FCNHead`` parameter names
#: are the same.
OFFICIAL_MP_SEG_KEY_MAP: Tuple[Tuple[str, Optional[str], str], ...] = (
    ('encoder_vq.', 'backbone.vae.', 'ldm-vae'),
    ('unet.unet.diffusion_model.time_embed.', None, 'drop'),
    ('unet.unet.diffusion_model.', 'backbone.unet.', 'ldm-unet'),
    *((f'cross_unet_conv{i}.{j}.', f'backbone.unet.{name}.', 'duplicate')
      for i in range(2, 4)
      for j, name in ((0, 'conv_norm_out'), (2, 'conv_out'))),
    *((f'upconv{i}.', f'neck.upconv{i}.', 'same') for i in range(1, 5)),
    ('decode_head.', 'decode_head.', 'same'),
    ('auxiliary_head.', 'auxiliary_head.', 'same'),
    ('sd_model.', None, 'drop'),
)


@MODELS.register_module()
class MetaPromptSegNeck(nn.Module):
    """Projects each UNet level and re-arranges it by the prompts.

    For each of the four levels (1/8 .. 1/64): bilinear x2 upsampling,
    ``upconv{i}`` (conv3x3 to the prompt width - GN - ReLU) and the feature
    re-arrangement ``einsum('bchw,bnc->bnhw')`` with the prompts: four maps
    of N channels at 1/4, 1/8, 1/16, 1/32, the input of an mmseg decode head
    (``UPerHead(in_channels=[N] * 4)``). Initialisation: PyTorch's default,
    as the reference.

    Called as ``neck(feats, prompts)`` (``uses_prompts = True``).

    Args:
        in_channels (Sequence[int]): Channels of the levels, finest first.
            Defaults to (320, 640, 1280, 1280).
        embed_dim (int): Prompt width C (the UNet's cross-attention width).
            Defaults to 768.
        num_groups (int): GroupNorm groups. Defaults to 16.
        scale_factor (float): Upsampling before the projection.
            Defaults to 2.
    """

    uses_prompts = True

    def __init__(self,
                 in_channels: Sequence[int] = (320, 640, 1280, 1280),
                 embed_dim: int = 768,
                 num_groups: int = 16,
                 scale_factor: float = 2) -> None:
        super().__init__()
        self.in_channels = [int(c) for c in in_channels]
        self.embed_dim = int(embed_dim)
        self.scale_factor = scale_factor
        for i, c in enumerate(self.in_channels):
            # upconv{i}.0 / .1 as the reference's ModuleList.
            setattr(self, f'upconv{i + 1}', nn.Sequential(
                nn.Conv2d(c, self.embed_dim, 3, padding=1),
                nn.GroupNorm(num_groups, self.embed_dim), nn.ReLU()))
        self.rearrange = PromptRearrange()

    def output_channels(self, num_prompts: int) -> List[int]:
        """Channels of the outputs: ``N`` maps at each level."""
        return [int(num_prompts)] * len(self.in_channels)

    def forward(self, feats: List[torch.Tensor],
                prompts: torch.Tensor) -> List[torch.Tensor]:
        """Re-arranged maps, one ``[B, N, 2h_i, 2w_i]`` per level.

        Args:
            feats (list[Tensor]): UNet features, finest first.
            prompts (Tensor): ``[B, N, embed_dim]`` prompts of the last
                refinement loop.
        """
        if len(feats) != len(self.in_channels):
            raise ValueError(f'Expected {len(self.in_channels)} levels, got '
                             f'{len(feats)}')
        outs = []
        for i, feat in enumerate(feats):
            if self.scale_factor != 1:
                feat = F.interpolate(feat, scale_factor=self.scale_factor,
                                     mode='bilinear', align_corners=False)
            feat = getattr(self, f'upconv{i + 1}')(feat)
            outs.append(self.rearrange(feat, prompts))
        return outs
