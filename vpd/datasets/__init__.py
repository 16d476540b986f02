"""Datasets and data transforms of vpd (registered in the vpd scope)."""
from .base_depth_dataset import BaseDepthDataset
from .coco_keypoint_dataset import CocoKeypointDataset
from .kitti_depth_dataset import KITTIDepthDataset
from .nyu_depth_dataset import (NYU_SCENE_CLASSES, NYUDepthDataset,
                                get_nyu_scene_index)
from .transforms import (CutDepth, DepthPhotometricAug, GenerateHeatmapTarget,
                         KBCrop, LoadDepthMap, PackPoseInputs, TopdownAffine,
                         TopdownGetBBoxCenterScale, TopdownRandomBBoxTransform,
                         TopdownRandomFlip, TopdownRandomHalfBody)

__all__ = [
    'BaseDepthDataset', 'NYUDepthDataset', 'KITTIDepthDataset',
    'NYU_SCENE_CLASSES', 'get_nyu_scene_index', 'CutDepth',
    'DepthPhotometricAug', 'KBCrop', 'LoadDepthMap', 'CocoKeypointDataset',
    'TopdownGetBBoxCenterScale', 'TopdownRandomFlip',
    'TopdownRandomHalfBody', 'TopdownRandomBBoxTransform', 'TopdownAffine',
    'GenerateHeatmapTarget', 'PackPoseInputs'
]
