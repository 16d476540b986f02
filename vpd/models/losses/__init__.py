from .batch_silog_loss import BatchSiLogLoss
from .weighted_cross_entropy_loss import WeightedCrossEntropyLoss

__all__ = ['BatchSiLogLoss', 'WeightedCrossEntropyLoss']
