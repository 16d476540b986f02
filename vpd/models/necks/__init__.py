from .vpd_depth_neck import VPDDepthNeck

__all__ = ['VPDDepthNeck']
