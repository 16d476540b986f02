"""Data transforms (vpd scope).

mmseg's ``RandomFlip``, ``RandomCrop`` and ``PackSegInputs`` already handle
``gt_depth_map`` through ``seg_fields`` and are used as they are; only what
they lack lives here. ``LoadImageFromFile`` and ``LoadAnnotations`` are
mmcv's / mmseg's, registered under the same names in the vpd scope so that
a corrupt or missing file is an error naming it.
"""
from .cut_depth import CutDepth
from .depth_photometric_aug import DepthPhotometricAug
from .kb_crop import KBCrop
from .load_annotations import LoadAnnotations
from .load_depth_map import LoadDepthMap
from .load_image_from_file import LoadImageFromFile

__all__ = [
    'CutDepth', 'DepthPhotometricAug', 'KBCrop', 'LoadDepthMap',
    'LoadAnnotations', 'LoadImageFromFile'
]
