from .batch_silog_loss import BatchSiLogLoss
from .keypoint_mse_loss import KeypointMSELoss

__all__ = ['BatchSiLogLoss', 'KeypointMSELoss']
