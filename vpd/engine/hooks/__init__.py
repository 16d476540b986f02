from .checkpoint_hook import CheckpointHook
from .depth_visualization_hook import DepthVisualizationHook
from .empty_target_hook import EmptyTargetError, EmptyTargetHook
from .non_finite_guard_hook import NonFiniteGuardHook, NonFiniteLossError
from .pose_visualization_hook import PoseVisualizationHook
from .progress_logger_hook import ProgressLoggerHook
from .seg_overlay_visualization_hook import SegOverlayVisualizationHook

__all__ = [
    'CheckpointHook', 'DepthVisualizationHook', 'EmptyTargetHook',
    'EmptyTargetError', 'NonFiniteGuardHook', 'NonFiniteLossError',
    'PoseVisualizationHook', 'ProgressLoggerHook',
    'SegOverlayVisualizationHook'
]
