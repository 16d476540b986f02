"""Heatmap MSE with per-keypoint target weights."""
from typing import Optional

import torch
import torch.nn as nn

from vpd.registry import MODELS


@MODELS.register_module()
class KeypointMSELoss(nn.Module):
    """``mean((pred - target)^2 * w)`` over batch, keypoints and pixels.

    ``w`` is the keypoint weight ``[B, K]`` (0 for an unlabelled keypoint or
    one outside the crop) broadcast over its heatmap, as mmpose 1.x
    ``KeypointMSELoss(use_target_weight=True)`` (``mmpose/models/losses/
    heatmap_loss.py``; not imported: mmpose is not a dependency, README,
    Installation notes). The mean runs over every element, weighted or not,
    so the loss scale does not depend on how many keypoints are labelled.

    Args:
        use_target_weight (bool): Apply ``w``. Defaults to True.
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_kpt'``.
    """

    def __init__(self,
                 use_target_weight: bool = True,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_kpt') -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                target_weights: Optional[torch.Tensor] = None
                ) -> torch.Tensor:
        """Loss of ``pred`` against ``target``.

        Args:
            pred (Tensor): ``[B, K, H, W]`` predicted heatmaps.
            target (Tensor): ``[B, K, H, W]`` target heatmaps.
            target_weights (Tensor, optional): ``[B, K]``.

        Raises:
            ValueError: Shapes do not match.
        """
        if pred.shape != target.shape:
            raise ValueError(f'Predicted heatmaps {tuple(pred.shape)} and '
                             f'targets {tuple(target.shape)} differ')
        err = (pred.float() - target.float())**2
        if self.use_target_weight and target_weights is not None:
            if tuple(target_weights.shape) != tuple(pred.shape[:2]):
                raise ValueError(
                    f'target_weights {tuple(target_weights.shape)} must be '
                    f'[B, K] = {tuple(pred.shape[:2])}')
            err = err * target_weights.float()[..., None, None]
        return self.loss_weight * err.mean()
