"""Evaluation of vpd: metrics registered in the vpd scope."""
from .metrics import DepthMetric

__all__ = ['DepthMetric']
