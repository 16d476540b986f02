"""vpd: diffusion models as backbones for visual perception (VPD, Meta Prompts).

Importing ``vpd`` makes mmseg 1.2.2 importable on mmcv-lite (see
:mod:`vpd.utils.compat`) and never touches the network.
"""
from .utils.compat import install_mmcv_ext_placeholder

install_mmcv_ext_placeholder()

__version__ = '0.1.0'
__all__ = ['__version__']
