from .depth_tta_model import DepthTTAModel
from .diffusion_depth_estimator import DiffusionDepthEstimator
from .diffusion_pose_estimator import DiffusionPoseEstimator

__all__ = ['DiffusionDepthEstimator', 'DepthTTAModel',
           'DiffusionPoseEstimator']
