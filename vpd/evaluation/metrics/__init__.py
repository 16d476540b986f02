"""Evaluation metrics of vpd (registered in the vpd scope)."""
from .coco_keypoint_metric import CocoKeypointMetric
from .depth_metric import DepthMetric
from .referring_metric import ReferringMetric, referring_scores

__all__ = [
    'DepthMetric', 'CocoKeypointMetric', 'ReferringMetric', 'referring_scores'
]
