from .simple_decoding_head import SimpleDecodingHead
from .vpd_depth_head import VPDDepthHead

__all__ = ['VPDDepthHead', 'SimpleDecodingHead']
