from .depth_visualization_hook import DepthVisualizationHook
from .pose_visualization_hook import PoseVisualizationHook

__all__ = ['DepthVisualizationHook', 'PoseVisualizationHook']
