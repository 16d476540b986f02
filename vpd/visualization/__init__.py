from .depth_colorize import (colorize_depth, colorize_depth_with_colorbar,
                             write_image_atomic)
from .output_names import unique_output_path
from .point_cloud import depth_to_points, intrinsics_from_fov, write_ply
from .pose_skeleton import draw_pose_skeletons
from .seg_overlay import default_palette, overlay_segmentation

__all__ = [
    'colorize_depth', 'colorize_depth_with_colorbar', 'write_image_atomic',
    'unique_output_path', 'depth_to_points', 'intrinsics_from_fov',
    'write_ply', 'default_palette', 'overlay_segmentation',
    'draw_pose_skeletons'
]
