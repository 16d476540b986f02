from .depth_visualization_hook import DepthVisualizationHook
from .progress_logger_hook import ProgressLoggerHook
from .seg_overlay_visualization_hook import SegOverlayVisualizationHook

__all__ = [
    'DepthVisualizationHook', 'ProgressLoggerHook',
    'SegOverlayVisualizationHook'
]
