from .stable_diffusion_backbone import StableDiffusionBackbone

__all__ = ['StableDiffusionBackbone']
