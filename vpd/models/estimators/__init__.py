from .depth_tta_model import DepthTTAModel
from .diffusion_depth_estimator import DiffusionDepthEstimator

__all__ = ['DiffusionDepthEstimator', 'DepthTTAModel']
