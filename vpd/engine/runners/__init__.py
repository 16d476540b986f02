from .vpd_runner import VPDRunner

__all__ = ['VPDRunner']
