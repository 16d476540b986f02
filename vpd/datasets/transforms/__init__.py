"""Data transforms (vpd scope).

mmseg's ``RandomFlip``, ``RandomCrop`` and ``PackSegInputs`` already handle
``gt_depth_map`` through ``seg_fields`` and are used as they are; only what
they lack lives here. ``LoadImageFromFile`` and ``LoadAnnotations`` are
mmcv's / mmseg's, registered under the same names in the vpd scope so that
a corrupt or missing file is an error naming it.

Top-down pose: the ``Topdown*`` transforms, ``GenerateHeatmapTarget`` and
``PackPoseInputs`` stand in for mmpose's (which is not a dependency; README,
Installation notes).
"""
from .cut_depth import CutDepth
from .depth_photometric_aug import DepthPhotometricAug
from .generate_heatmap_target import GenerateHeatmapTarget
from .kb_crop import KBCrop
from .load_annotations import LoadAnnotations
from .load_depth_map import LoadDepthMap
from .load_image_from_file import LoadImageFromFile
from .pack_pose_inputs import PackPoseInputs
from .topdown_affine import TopdownAffine, get_warp_matrix
from .topdown_get_bbox_center_scale import TopdownGetBBoxCenterScale
from .topdown_random_bbox_transform import TopdownRandomBBoxTransform
from .topdown_random_flip import TopdownRandomFlip
from .topdown_random_half_body import TopdownRandomHalfBody

__all__ = [
    'CutDepth', 'DepthPhotometricAug', 'KBCrop', 'LoadDepthMap',
    'LoadAnnotations', 'LoadImageFromFile', 'TopdownGetBBoxCenterScale',
    'TopdownRandomFlip', 'TopdownRandomHalfBody', 'TopdownRandomBBoxTransform',
    'TopdownAffine', 'get_warp_matrix', 'GenerateHeatmapTarget',
    'PackPoseInputs'
]
