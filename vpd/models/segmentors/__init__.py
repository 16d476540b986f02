from .diffusion_segmentor import (OFFICIAL_VPD_SEG_KEY_MAP,
                                  DiffusionSegmentor, map_official_key)
from .referring_segmentor import (OFFICIAL_VPD_REFER_KEY_MAP,
                                  ReferringSegmentor)

__all__ = [
    'DiffusionSegmentor', 'OFFICIAL_VPD_SEG_KEY_MAP', 'map_official_key',
    'ReferringSegmentor', 'OFFICIAL_VPD_REFER_KEY_MAP'
]
