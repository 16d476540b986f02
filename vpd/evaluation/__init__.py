"""Evaluation of vpd: metrics registered in the vpd scope."""
from .metrics import CocoKeypointMetric, DepthMetric

__all__ = ['DepthMetric', 'CocoKeypointMetric']
