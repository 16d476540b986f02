"""Evaluation metrics of vpd (registered in the vpd scope)."""
from .coco_keypoint_metric import CocoKeypointMetric
from .depth_metric import DepthMetric

__all__ = ['DepthMetric', 'CocoKeypointMetric']
