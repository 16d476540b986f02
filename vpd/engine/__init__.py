"""Engine glue for mmengine (hooks, optimizer constructors, checkpoint I/O).

Importing this package (``vpd.utils.register_all_modules`` does) routes all
of mmengine's checkpoint loading through the safe loader
:func:`vpd.utils.checkpoint.load_checkpoint_file` and makes its checkpoint
saving atomic; see :mod:`vpd.engine.checkpoint_io`.
"""
from .checkpoint_io import (AtomicHardDiskBackend, AtomicLocalBackend,
                            install_checkpoint_io, is_installed)

from .hooks import DepthVisualizationHook, PoseVisualizationHook
from .schedulers import TwoPhasePolyLR

install_checkpoint_io()

__all__ = [
    'AtomicLocalBackend', 'AtomicHardDiskBackend', 'install_checkpoint_io',
    'is_installed', 'DepthVisualizationHook', 'PoseVisualizationHook',
    'TwoPhasePolyLR'
]
