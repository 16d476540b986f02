"""The VPD depth fusion neck (the reference encoder's layers after the UNet)."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_

from vpd.registry import MODELS


@MODELS.register_module()
class VPDDepthNeck(nn.Module):
    """Fuses the four UNet levels into one 1/32 map, as the VPD reference.

    ``layer1`` (conv3x3 s2 - GN16 - ReLU - conv3x3 s2) brings the 1/8 map to
    1/32, ``layer2`` (conv3x3 s2) the 1/16 map; the 1/64 map is upsampled
    (nearest, x2); all are concatenated with the 1/32 map and reduced by
    ``out_layer`` (conv1x1 - GN16 - ReLU). Convs are initialised with
    truncated normal (std 0.02), zero bias, as the reference.

    Args:
        in_channels (Sequence[int]): Channels of the four levels, finest
            first. Defaults to (320, 640, 1280, 1280).
        out_channels (int): Output channels. Defaults to 1536.
        num_groups (int): GroupNorm groups. Defaults to 16.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (320, 640, 1280, 1280),
                 out_channels: int = 1536,
                 num_groups: int = 16) -> None:
        super().__init__()
        c0, c1, c2, c3 = (int(c) for c in in_channels)
        self.in_channels = [c0, c1, c2, c3]
        self.layer1 = nn.Sequential(
            nn.Conv2d(c0, c0, 3, stride=2, padding=1),
            nn.GroupNorm(num_groups, c0), nn.ReLU(),
            nn.Conv2d(c0, c0, 3, stride=2, padding=1))
        self.layer2 = nn.Sequential(nn.Conv2d(c1, c1, 3, stride=2, padding=1))
        self.out_layer = nn.Sequential(
            nn.Conv2d(c0 + c1 + c2 + c3, out_channels, 1),
            nn.GroupNorm(num_groups, out_channels), nn.ReLU())
        self.out_channels = out_channels
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            trunc_normal_(m.weight, std=.02)
            nn.init.constant_(m.bias, 0)

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """Fuse ``[1/8, 1/16, 1/32, 1/64]`` features into one 1/32 map."""
        f8, f16, f32, f64 = feats
        x = torch.cat([
            self.layer1(f8),
            self.layer2(f16), f32,
            F.interpolate(f64, scale_factor=2)
        ], dim=1)
        return self.out_layer(x)
