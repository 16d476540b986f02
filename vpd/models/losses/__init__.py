from .batch_silog_loss import BatchSiLogLoss

__all__ = ['BatchSiLogLoss']
