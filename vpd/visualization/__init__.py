from .depth_colorize import colorize_depth, write_image_atomic
from .referring_overlay import draw_referring_mask

__all__ = ['colorize_depth', 'write_image_atomic', 'draw_referring_mask']
