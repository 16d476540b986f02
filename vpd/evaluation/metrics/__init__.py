"""Evaluation metrics of vpd (registered in the vpd scope)."""
from .depth_metric import DepthMetric
from .referring_metric import ReferringMetric, referring_scores

__all__ = ['DepthMetric', 'ReferringMetric', 'referring_scores']
