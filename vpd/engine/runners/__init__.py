from .amp_test_loop import AmpTestLoop
from .vpd_flexible_runner import VPDFlexibleRunner
from .vpd_runner import VPDRunner

__all__ = ['AmpTestLoop', 'VPDFlexibleRunner', 'VPDRunner']
