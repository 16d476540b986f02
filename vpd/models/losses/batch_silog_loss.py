"""Scale-invariant log loss pooled over the batch, as the VPD reference."""
import torch
import torch.nn as nn

from vpd.registry import MODELS


@MODELS.register_module()
class BatchSiLogLoss(nn.Module):
    """``sqrt(mean(d^2) - lambd * mean(d)^2)``, ``d = log(gt) - log(pred)``.

    The means run over all valid pixels (``gt > min_depth``) of the whole
    batch, as the VPD / Meta Prompts training code; mmseg's ``SiLogLoss``
    averages per image instead, hence this class.

    Args:
        lambd (float): Variance weight. Defaults to 0.5.
        min_depth (float): Pixels with ground truth at or below it are
            ignored. Defaults to 0.
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_silog'``.
    """

    def __init__(self, lambd: float = 0.5, min_depth: float = 0.0,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_silog') -> None:
        super().__init__()
        self.lambd = lambd
        self.min_depth = min_depth
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    @property
    def valid_range(self) -> str:
        """Which ground-truth pixels count, in words (for messages)."""
        return f'ground-truth depth > {self.min_depth:g} m'

    def valid_mask(self, target: torch.Tensor) -> torch.Tensor:
        """Bool mask of the ground-truth pixels the loss uses.

        Args:
            target (torch.Tensor): Ground truth, metres (NaN is invalid).

        Returns:
            torch.Tensor: Same shape as ``target``.
        """
        return target > self.min_depth

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``pred`` against ``target`` (same shape, metres).

        A batch without a valid pixel gives 0 (connected to ``pred`` so that
        backward works); the depth estimator reports such batches to
        :class:`vpd.engine.hooks.EmptyTargetHook`.
        """
        valid = self.valid_mask(target)
        if not valid.any():
            return pred.sum() * 0.0
        d = torch.log(target[valid]) - torch.log(pred[valid].float())
        var = (d.pow(2).mean() - self.lambd * d.mean().pow(2)).clamp(min=0)
        return self.loss_weight * torch.sqrt(var + 1e-12)
