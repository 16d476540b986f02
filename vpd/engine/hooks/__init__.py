from .depth_visualization_hook import DepthVisualizationHook

__all__ = ['DepthVisualizationHook']
