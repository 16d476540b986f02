"""Data transforms (vpd scope).

mmseg's ``LoadImageFromFile`` (mmcv), ``RandomFlip``, ``RandomCrop``,
``Resize`` and ``PackSegInputs`` already handle ``gt_depth_map`` and
``gt_seg_map`` through ``seg_fields`` and are used as they are; only what
they lack lives here.
"""
from .cut_depth import CutDepth
from .depth_photometric_aug import DepthPhotometricAug
from .kb_crop import KBCrop
from .load_depth_map import LoadDepthMap
from .load_refer_mask import LoadReferMask

__all__ = ['CutDepth', 'DepthPhotometricAug', 'KBCrop', 'LoadDepthMap',
           'LoadReferMask']
