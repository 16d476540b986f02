from .topdown_heatmap_head import TopdownHeatmapHead
from .vpd_depth_head import VPDDepthHead

__all__ = ['VPDDepthHead', 'TopdownHeatmapHead']
