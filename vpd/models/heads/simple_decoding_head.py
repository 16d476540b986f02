"""The LAVT / VPD referring-segmentation decoder as an mmseg decode head."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from torch import Tensor

from vpd.registry import MODELS


@MODELS.register_module()
class SimpleDecodingHead(BaseDecodeHead):
    """LAVT's ``SimpleDecoding`` with per-level input widths (VPD refer).

    Source: ``wl-zhao/VPD`` ``refer/lib/mask_predictor.py`` (from
    ``yz93/LAVT-RIS`` ``lib/mask_predictor.py``). Inputs ``[c1, c2, c3,
    c4]`` at strides 8, 16, 32, 64 (VPD at 512x512: 320@64, (640+L)@32,
    (1280+L)@16, 1280@8). Top-down, three times: bilinearly upsample
    (``align_corners=True``) the coarser map to the next level when it is
    smaller, concatenate ``[coarse, fine]``, then twice conv3x3 (no bias) -
    norm - ReLU to ``channels``; finally a 1x1 conv (``conv_seg``, with
    bias) to ``num_classes`` at stride 8. mmseg's ``predict_by_feat`` /
    ``loss_by_feat`` then resize the logits bilinearly to the input / label
    size (VPD: ``align_corners=True``).

    Layer names are the reference's (``conv{1,2}_{4,3,2}``,
    ``bn{1,2}_{4,3,2}``); its final ``conv1_1`` is mmseg's ``conv_seg``.
    Initialisation is PyTorch's default, as the reference (no ``init_cfg``),
    and there is no dropout.

    Args:
        in_channels (Sequence[int]): Widths of ``[c1, c2, c3, c4]``; a
            :class:`~vpd.models.segmentors.ReferringSegmentor` config leaves
            it out (derived from the backbone's ``out_channels``).
        channels (int): Hidden width (VPD / LAVT: ``c4 // 2`` = 640).
        num_classes (int): Output classes (2: background, target).
        in_index (Sequence[int]): Backbone levels read, finest first.
            Defaults to (0, 1, 2, 3).
        input_transform (str): mmseg's input transform; must stay
            ``'multiple_select'`` (one input per level). Defaults to it.
        norm_cfg (dict): Norm layer (``BN``; ``SyncBN`` for multi-GPU
            training, as the reference's ``convert_sync_batchnorm``).
        align_corners (bool): Of every resize. Defaults to True.
        **kwargs: :class:`mmseg.models.decode_heads.BaseDecodeHead`
            arguments (``loss_decode``, ``ignore_index``, ...).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int,
                 num_classes: int = 2,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 align_corners: bool = True,
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 input_transform: str = 'multiple_select',
                 **kwargs) -> None:
        in_channels = [int(c) for c in in_channels]
        in_index = [int(i) for i in in_index]
        if len(in_channels) != 4 or len(in_index) != 4:
            raise ValueError(f'SimpleDecodingHead needs 4 input levels '
                             f'[c1, c2, c3, c4], got in_channels '
                             f'{in_channels}, in_index {in_index}')
        if input_transform != 'multiple_select':
            raise ValueError(f'SimpleDecodingHead reads one input per level '
                             f'(input_transform="multiple_select"), got '
                             f'"{input_transform}"')
        kwargs.setdefault('dropout_ratio', 0.0)
        kwargs.setdefault('init_cfg', None)
        # two logits + argmax, as the reference (not mmseg's 1-channel
        # binary mode)
        kwargs.setdefault('out_channels', num_classes)
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            num_classes=num_classes,
            norm_cfg=norm_cfg,
            align_corners=align_corners,
            in_index=in_index,
            input_transform=input_transform,
            **kwargs)
        c1, c2, c3, c4 = in_channels
        hidden = self.channels
        for level, c_in in ((4, c4 + c3), (3, hidden + c2), (2, hidden + c1)):
            for i, width in ((1, c_in), (2, hidden)):
                setattr(self, f'conv{i}_{level}',
                        nn.Conv2d(width, hidden, 3, padding=1, bias=False))
                setattr(self, f'bn{i}_{level}',
                        build_norm_layer(norm_cfg, hidden)[1])
        self.relu = nn.ReLU()

    def _fuse(self, coarse: Tensor, fine: Tensor, level: int) -> Tensor:
        if (coarse.shape[-2] < fine.shape[-2]
                or coarse.shape[-1] < fine.shape[-1]):
            coarse = resize(coarse, size=fine.shape[-2:], mode='bilinear',
                            align_corners=self.align_corners,
                            warning=False)
        x = torch.cat([coarse, fine], dim=1)
        for i in (1, 2):
            x = getattr(self, f'conv{i}_{level}')(x)
            x = self.relu(getattr(self, f'bn{i}_{level}')(x))
        return x

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tensor:
        """Logits ``[B, num_classes, H/8, W/8]`` of ``[c1, c2, c3, c4]``."""
        c1, c2, c3, c4 = self._transform_inputs(inputs)
        x = self._fuse(c4, c3, 4)
        x = self._fuse(x, c2, 3)
        x = self._fuse(x, c1, 2)
        return self.cls_seg(x)
