"""Pixel cross-entropy with class weights, averaged as PyTorch does."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from vpd.registry import MODELS


@MODELS.register_module()
class WeightedCrossEntropyLoss(nn.Module):
    """``F.cross_entropy(logits, labels, weight=class_weight)`` (mean).

    PyTorch's weighted mean divides by the summed class weights of the
    labelled pixels, ``sum_i w[y_i] l_i / sum_i w[y_i]``. mmseg's
    ``CrossEntropyLoss`` with ``class_weight`` divides by the pixel count
    instead, which rescales each batch by its mean weight; VPD / LAVT
    referring segmentation trains with PyTorch's form (``refer/train.py``
    ``criterion``: weights [0.9, 1.1]), hence this class.

    Args:
        class_weight (Sequence[float], optional): One weight per class.
            Defaults to None (unweighted mean).
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_ce'``.
    """

    def __init__(self,
                 class_weight: Optional[Sequence[float]] = None,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce') -> None:
        super().__init__()
        self.class_weight = (None if class_weight is None else
                             [float(w) for w in class_weight])
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of this loss in the loss dict (mmseg heads read it)."""
        return self._loss_name

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                ignore_index: int = 255,
                **kwargs) -> torch.Tensor:
        """Loss of logits ``[B, C, H, W]`` against labels ``[B, H, W]``.

        Args:
            cls_score (Tensor): Logits.
            label (Tensor): Class ids; ``ignore_index`` pixels are skipped.
            weight (Tensor, optional): Per-pixel weights (mmseg samplers);
                not supported, must be None.
            ignore_index (int): Label to ignore. Defaults to 255.
        """
        if weight is not None:
            raise ValueError('WeightedCrossEntropyLoss takes no per-pixel '
                             'weights (no pixel sampler with it)')
        cw = None
        if self.class_weight is not None:
            if len(self.class_weight) != cls_score.shape[1]:
                raise ValueError(
                    f'class_weight has {len(self.class_weight)} entries for '
                    f'{cls_score.shape[1]} classes')
            cw = cls_score.new_tensor(self.class_weight)
        if not bool((label != ignore_index).any()):
            return cls_score.sum() * 0.0
        loss = F.cross_entropy(cls_score, label.long(), weight=cw,
                               ignore_index=ignore_index, reduction='mean')
        return self.loss_weight * loss
