from .checkpoint_hook import CheckpointHook
from .depth_visualization_hook import DepthVisualizationHook
from .empty_target_hook import EmptyTargetError, EmptyTargetHook
from .non_finite_guard_hook import NonFiniteGuardHook, NonFiniteLossError

__all__ = [
    'CheckpointHook', 'DepthVisualizationHook', 'EmptyTargetHook',
    'EmptyTargetError', 'NonFiniteGuardHook', 'NonFiniteLossError'
]
