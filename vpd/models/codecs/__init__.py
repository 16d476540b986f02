"""Keypoint codecs: keypoints <-> heatmaps (registered in ``TASK_UTILS``)."""
from .base_heatmap_codec import BaseHeatmapCodec
from .msra_heatmap import MSRAHeatmap
from .udp_heatmap import UDPHeatmap

__all__ = ['BaseHeatmapCodec', 'UDPHeatmap', 'MSRAHeatmap']
