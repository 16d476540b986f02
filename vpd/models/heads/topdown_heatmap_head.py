"""Top-down keypoint heatmap head (Simple Baselines / ViTPose "classic")."""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn as nn

from vpd.registry import MODELS

_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


@MODELS.register_module()
class TopdownHeatmapHead(nn.Module):
    """Deconvolutions to the heatmap stride, then one 1x1 conv per keypoint.

    ``deconv_layers``: one (ConvTranspose2d stride 2, no bias - BN - ReLU)
    per entry of ``deconv_out_channels``; ``conv_layers``: optional
    (conv - BN - ReLU); ``final_layer``: conv1x1 to ``out_channels``
    heatmaps. The layout, the parameter names and the initialisation
    (normal std 0.001 on (de)convs, zero bias, BN weight 1) are those of
    mmpose's ``HeatmapHead`` (``mmpose/models/heads/heatmap_heads/
    heatmap_head.py``), which is not imported: mmpose is not a dependency
    (README, Installation notes). With the Meta Prompts depth neck (maps at
    stride 8) one deconvolution gives stride 4: a 256x192 crop -> 64x48
    heatmaps.

    Args:
        in_channels (int): Input channels (the number of meta prompts N
            after the re-arrangement).
        out_channels (int): Keypoints K. Defaults to 17 (COCO).
        deconv_out_channels (Sequence[int]): Deconvolution widths; empty for
            none. Defaults to (256, ).
        deconv_kernel_sizes (Sequence[int]): Kernel of each (2, 3 or 4).
            Defaults to (4, ).
        conv_out_channels (Sequence[int]): Extra conv widths. Defaults to
            ().
        conv_kernel_sizes (Sequence[int]): Their (odd) kernels. Defaults to
            ().

    Raises:
        ValueError: Mismatched lengths or an unsupported kernel size.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 17,
                 deconv_out_channels: Sequence[int] = (256, ),
                 deconv_kernel_sizes: Sequence[int] = (4, ),
                 conv_out_channels: Sequence[int] = (),
                 conv_kernel_sizes: Sequence[int] = ()) -> None:
        super().__init__()
        deconv_out_channels = tuple(deconv_out_channels or ())
        deconv_kernel_sizes = tuple(deconv_kernel_sizes or ())
        conv_out_channels = tuple(conv_out_channels or ())
        conv_kernel_sizes = tuple(conv_kernel_sizes or ())
        if len(deconv_out_channels) != len(deconv_kernel_sizes):
            raise ValueError(
                'deconv_out_channels and deconv_kernel_sizes need the same '
                f'length, got {deconv_out_channels} and '
                f'{deconv_kernel_sizes}')
        if len(conv_out_channels) != len(conv_kernel_sizes):
            raise ValueError(
                'conv_out_channels and conv_kernel_sizes need the same '
                f'length, got {conv_out_channels} and {conv_kernel_sizes}')
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        layers = []
        c = self.in_channels
        for out, k in zip(deconv_out_channels, deconv_kernel_sizes):
            if k not in _DECONV_PADDING:
                raise ValueError(f'Deconvolution kernel {k} is not supported '
                                 '(2, 3 or 4)')
            pad, out_pad = _DECONV_PADDING[k]
            layers += [
                nn.ConvTranspose2d(c, out, k, stride=2, padding=pad,
                                   output_padding=out_pad, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True)
            ]
            c = out
        self.deconv_layers = nn.Sequential(*layers) if layers else \
            nn.Identity()
        layers = []
        for out, k in zip(conv_out_channels, conv_kernel_sizes):
            if k % 2 == 0:
                raise ValueError(f'conv kernel sizes must be odd, got {k}')
            layers += [
                nn.Conv2d(c, out, k, padding=(k - 1) // 2),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True)
            ]
            c = out
        self.conv_layers = nn.Sequential(*layers) if layers else \
            nn.Identity()
        self.final_layer = nn.Conv2d(c, self.out_channels, 1)
        #: Output resolution / input resolution.
        self.upsample_factor = 2**len(deconv_out_channels)
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

    def forward(self, feats: Union[torch.Tensor, Sequence[torch.Tensor]]
                ) -> torch.Tensor:
        """Heatmaps ``[B, K, factor * h, factor * w]``.

        Args:
            feats (Tensor | Sequence[Tensor]): ``[B, in_channels, h, w]``, or
                a sequence whose last entry is used (mmpose's contract).
        """
        x = feats if isinstance(feats, torch.Tensor) else feats[-1]
        return self.final_layer(self.conv_layers(self.deconv_layers(x)))
