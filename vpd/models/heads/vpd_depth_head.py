"""The VPD / Meta Prompts deconvolution depth head."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmengine.model.weight_init import trunc_normal_

from vpd.registry import MODELS


@MODELS.register_module()
class VPDDepthHead(nn.Module):
    """Deconvolution decoder + depth layer, ``sigmoid * max_depth``.

    ``deconv_layers``: ``num_deconv`` x (ConvTranspose k, s2, no bias - BN -
    ReLU); ``conv_layers``: conv3x3 to ``channels`` - BN - ReLU; then
    ``num_upsample`` bilinear x2 upsamplings (VPD: 2, Meta Prompts: 0) and
    ``last_layer_depth`` (conv3x3 - ReLU - conv3x3 to 1). Initialisation as
    the reference (Simple Baseline): convs and deconvs normal(std=0.001),
    zero bias, BN weight 1. ``last_layer_init='trunc_normal'`` initialises
    ``last_layer_depth`` as mmseg 1.2.2's ``VPDDepthHead`` does its
    ``depth_pred_layer`` (its ``init_cfg`` ``TruncNormal(std=0.02)``, zero
    bias; its decoder keeps ``Normal(std=0.001)``); the official VPD /
    Meta Prompts ``VPDDepth`` uses normal(std=0.001) there too.

    Args:
        in_channels (int): Input channels. Defaults to 1536.
        channels (int): Width after ``conv_layers``. Defaults to 192.
        num_deconv (int): Number of deconvolutions. Defaults to 3.
        num_filters (Sequence[int]): Deconvolution widths.
            Defaults to (32, 32, 32).
        deconv_kernels (Sequence[int]): Kernel sizes (2, 3 or 4).
            Defaults to (2, 2, 2).
        num_upsample (int): Bilinear x2 upsamplings after ``conv_layers``.
            Defaults to 2.
        max_depth (float): Output range ``(0, max_depth)``. Defaults to 10.
        last_layer_init (str): ``'normal'`` (std 0.001, the official code)
            or ``'trunc_normal'`` (std 0.02, mmseg). Defaults to
            ``'normal'``.
    """

    def __init__(self,
                 in_channels: int = 1536,
                 channels: int = 192,
                 num_deconv: int = 3,
                 num_filters: Sequence[int] = (32, 32, 32),
                 deconv_kernels: Sequence[int] = (2, 2, 2),
                 num_upsample: int = 2,
                 max_depth: float = 10.0,
                 last_layer_init: str = 'normal') -> None:
        super().__init__()
        if last_layer_init not in ('normal', 'trunc_normal'):
            raise ValueError('last_layer_init must be "normal" or '
                             f'"trunc_normal", got "{last_layer_init}"')
        self.last_layer_init = last_layer_init
        if not (len(num_filters) == len(deconv_kernels) == num_deconv):
            raise ValueError('num_filters and deconv_kernels need num_deconv '
                             f'({num_deconv}) entries each')
        layers = []
        c = in_channels
        for planes, k in zip(num_filters, deconv_kernels):
            pad, out_pad = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[k]
            layers += [
                nn.ConvTranspose2d(c, planes, k, stride=2, padding=pad,
                                   output_padding=out_pad, bias=False),
                nn.BatchNorm2d(planes), nn.ReLU(inplace=True)
            ]
            c = planes
        self.deconv_layers = nn.Sequential(*layers)
        self.conv_layers = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True))
        self.last_layer_depth = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 1, 3, padding=1))
        self.num_upsample = num_upsample
        self.max_depth = float(max_depth)
        self.scale = 2**num_deconv * 2**num_upsample
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if self.last_layer_init == 'trunc_normal':
            for m in self.last_layer_depth.modules():
                if isinstance(m, nn.Conv2d):
                    trunc_normal_(m.weight, std=0.02)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Depth ``[B, 1, s*h, s*w]`` (metres) from ``[B, C, h, w]``."""
        x = self.conv_layers(self.deconv_layers(x))
        for _ in range(self.num_upsample):
            x = F.interpolate(x, scale_factor=2, mode='bilinear',
                              align_corners=False)
        return torch.sigmoid(self.last_layer_depth(x)) * self.max_depth
