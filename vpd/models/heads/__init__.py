from .vpd_depth_head import VPDDepthHead

__all__ = ['VPDDepthHead']
