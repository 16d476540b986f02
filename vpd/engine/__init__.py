"""Engine glue for mmengine (hooks, optimizer constructors, checkpoint I/O).

Importing this package (``vpd.utils.register_all_modules`` does) routes all
of mmengine's checkpoint loading through the safe loader
:func:`vpd.utils.checkpoint.load_checkpoint_file` and makes its checkpoint
saving atomic; see :mod:`vpd.engine.checkpoint_io`. The hooks that keep a
run from silently corrupting (:class:`CheckpointHook`,
:class:`NonFiniteGuardHook`, :class:`EmptyTargetHook`) are in
:mod:`vpd.engine.hooks`.
"""
from .checkpoint_io import (AtomicHardDiskBackend, AtomicLocalBackend,
                            install_checkpoint_io, is_installed)

from .hooks import (CheckpointHook, DepthVisualizationHook, EmptyTargetHook,
                    NonFiniteGuardHook, PoseVisualizationHook,
                    ProgressLoggerHook, SegOverlayVisualizationHook)
from .optimizers import AutocastOptimWrapper, SummaryOptimWrapperConstructor
from .runners import AmpTestLoop, VPDRunner
from .schedulers import TwoPhasePolyLR, fit_schedule_to_run_length
from .strategies import ParamGroupFSDPStrategy

install_checkpoint_io()

__all__ = [
    'AtomicLocalBackend', 'AtomicHardDiskBackend', 'install_checkpoint_io',
    'is_installed', 'DepthVisualizationHook', 'ProgressLoggerHook',
    'SegOverlayVisualizationHook', 'SummaryOptimWrapperConstructor',
    'VPDRunner', 'TwoPhasePolyLR', 'fit_schedule_to_run_length',
    'CheckpointHook', 'EmptyTargetHook', 'NonFiniteGuardHook',
    'AutocastOptimWrapper', 'AmpTestLoop', 'ParamGroupFSDPStrategy',
    'PoseVisualizationHook'
]
