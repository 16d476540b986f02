from .batch_silog_loss import BatchSiLogLoss
from .keypoint_mse_loss import KeypointMSELoss
from .weighted_cross_entropy_loss import WeightedCrossEntropyLoss

__all__ = ['BatchSiLogLoss', 'KeypointMSELoss', 'WeightedCrossEntropyLoss']
