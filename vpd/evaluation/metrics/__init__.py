"""Evaluation metrics of vpd (registered in the vpd scope)."""
from .depth_metric import DepthMetric

__all__ = ['DepthMetric']
