from .depth_colorize import colorize_depth, write_image_atomic
from .pose_skeleton import draw_pose_skeletons

__all__ = ['colorize_depth', 'write_image_atomic', 'draw_pose_skeletons']
