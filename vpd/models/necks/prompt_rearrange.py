"""Meta Prompts' feature re-arrangement: pixel features x prompts."""
import torch
import torch.nn as nn

from vpd.registry import MODELS


@MODELS.register_module()
class PromptRearrange(nn.Module):
    """Re-arranges pixel features into one map per prompt.

    ``out[b, n, h, w] = sum_c F[b, c, h, w] * P[b, n, c]``, i.e.
    ``einsum('bchw,bnc->bnhw')``: the dot product of every pixel feature
    with every prompt, without softmax or scaling, as the Meta Prompts
    reference. It has no parameters; the depth and segmentation necks own
    one each.
    """

    def forward(self, feats: torch.Tensor,
                prompts: torch.Tensor) -> torch.Tensor:
        """Re-arrange ``feats`` by ``prompts``.

        Args:
            feats (Tensor): Pixel features ``[B, C, H, W]``.
            prompts (Tensor): Prompts ``[B, N, C]`` (or ``[N, C]``, shared
                by the batch).

        Returns:
            Tensor: ``[B, N, H, W]`` maps.
        """
        if feats.ndim != 4:
            raise ValueError(
                f'feats must be [B, C, H, W], got shape {tuple(feats.shape)}')
        if prompts.ndim == 2:
            prompts = prompts.unsqueeze(0).expand(feats.shape[0], -1, -1)
        if prompts.ndim != 3:
            raise ValueError('prompts must be [B, N, C] or [N, C], got shape '
                             f'{tuple(prompts.shape)}')
        if prompts.shape[-1] != feats.shape[1]:
            raise ValueError(
                f'Prompt width {prompts.shape[-1]} differs from the feature '
                f'channels {feats.shape[1]}; project the features to the '
                'prompt width first')
        if prompts.shape[0] != feats.shape[0]:
            raise ValueError(f'Batch sizes differ: features {feats.shape[0]}, '
                             f'prompts {prompts.shape[0]}')
        return torch.einsum('bchw,bnc->bnhw', feats, prompts.to(feats.dtype))
