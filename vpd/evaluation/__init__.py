"""Evaluation of vpd: metrics registered in the vpd scope."""
from .metrics import DepthMetric, ReferringMetric

__all__ = ['DepthMetric', 'ReferringMetric']
