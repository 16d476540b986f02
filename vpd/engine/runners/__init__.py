from .amp_test_loop import AmpTestLoop
from .vpd_runner import VPDRunner

__all__ = ['AmpTestLoop', 'VPDRunner']
