"""The VPD text adapter."""
from typing import Optional

import torch
import torch.nn as nn

from vpd.registry import MODELS


@MODELS.register_module()
class TextAdapter(nn.Module):
    """Two-layer MLP refining text embeddings: ``x + gamma * MLP(x)``.

    The module holds only the MLP (``fc``: Linear-GELU-Linear), as in the
    reference, so its parameter names map one to one; the blend factor
    ``gamma`` belongs to the conditioner that owns it.

    Args:
        text_dim (int): Embedding width. Defaults to 768.
        hidden_dim (int, optional): MLP width. Defaults to ``text_dim``.
    """

    def __init__(self, text_dim: int = 768,
                 hidden_dim: Optional[int] = None) -> None:
        super().__init__()
        hidden_dim = hidden_dim or text_dim
        self.fc = nn.Sequential(
            nn.Linear(text_dim, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, text_dim))

    def forward(self, texts: torch.Tensor,
                gamma: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Refine ``texts`` (``[..., text_dim]``).

        Args:
            texts (Tensor): Embeddings.
            gamma (Tensor, optional): Blend vector; None returns the plain
                MLP output (Meta Prompts' adapter).
        """
        if gamma is None:
            return self.fc(texts)
        return texts + gamma * self.fc(texts)
