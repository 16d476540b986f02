from .diffusion_segmentor import (OFFICIAL_VPD_SEG_KEY_MAP,
                                  DiffusionSegmentor, map_official_key)

__all__ = ['DiffusionSegmentor', 'OFFICIAL_VPD_SEG_KEY_MAP',
           'map_official_key']
