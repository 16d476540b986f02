from .depth_colorize import colorize_depth, write_image_atomic

__all__ = ['colorize_depth', 'write_image_atomic']
