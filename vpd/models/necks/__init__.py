from .meta_prompt_depth_neck import MetaPromptDepthNeck
from .meta_prompt_seg_neck import MetaPromptSegNeck
from .prompt_rearrange import PromptRearrange
from .vpd_depth_neck import VPDDepthNeck

__all__ = [
    'VPDDepthNeck', 'MetaPromptDepthNeck', 'MetaPromptSegNeck',
    'PromptRearrange'
]
