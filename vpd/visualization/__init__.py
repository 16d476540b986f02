from .depth_colorize import (colorize_depth, colorize_depth_with_colorbar,
                             write_image_atomic)
from .output_names import unique_output_path
from .point_cloud import (CAMERAS, camera_intrinsics, depth_to_points,
                          intrinsics_from_fov, write_ply)
from .raw_depth import (RAW_DEPTH_FORMATS, choose_raw_depth_format,
                        write_raw_depth)
from .pose_skeleton import draw_pose_skeletons
from .referring_overlay import (caption_strip, draw_referring_mask,
                                referring_row)
from .seg_overlay import default_palette, overlay_segmentation

__all__ = [
    'colorize_depth', 'colorize_depth_with_colorbar', 'write_image_atomic',
    'unique_output_path', 'depth_to_points', 'intrinsics_from_fov',
    'write_ply', 'CAMERAS', 'camera_intrinsics', 'RAW_DEPTH_FORMATS',
    'choose_raw_depth_format', 'write_raw_depth', 'default_palette',
    'overlay_segmentation', 'draw_pose_skeletons', 'draw_referring_mask',
    'caption_strip', 'referring_row'
]
