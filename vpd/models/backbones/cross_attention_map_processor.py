"""A diffusers attention processor that records cross-attention maps.

diffusers' default processor (``AttnProcessor2_0``) runs PyTorch's fused
``scaled_dot_product_attention``, which never materialises the attention
probabilities.  VPD needs them (head-averaged softmax(QK^T) of the
cross-attention layers), so the few layers whose maps are used get this
processor, installed with the official extension point
``UNet2DConditionModel.set_attn_processor``; every other layer keeps SDPA.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch


class AttentionMapStore:
    """Collects head-averaged attention maps per level during one UNet pass.

    Args:
        detach (bool): Store maps without gradient, as the reference (its
            transformer blocks ran under ldm's checkpoint function, so the
            maps carried no gradient). Defaults to True.
    """

    def __init__(self, detach: bool = True) -> None:
        self.detach = detach
        self.maps: Dict[int, List[torch.Tensor]] = {}

    def reset(self) -> None:
        """Forget the maps of the previous pass."""
        self.maps = {}

    def add(self, level: int, attn: torch.Tensor) -> None:
        """Store one layer's ``[B, N_query, K]`` map for ``level``."""
        self.maps.setdefault(level, []).append(
            attn.detach() if self.detach else attn)

    def average(self, level: int) -> Optional[torch.Tensor]:
        """Mean over the layers of one level, ``[B, N_query, K]``."""
        maps = self.maps.get(level)
        if not maps:
            return None
        return torch.stack(maps).mean(0)


class CrossAttentionMapProcessor:
    """Attention processor that also stores the head-averaged probabilities.

    Computes exactly what diffusers' reference ``AttnProcessor`` computes
    (``attn.get_attention_scores`` then ``bmm``) and hands the head mean of the
    probabilities to an :class:`AttentionMapStore`.

    Args:
        store (AttentionMapStore): Where maps go.
        level (int): The latent downsampling level of the layer (0 for the
            first UNet level, 1 for latent stride 2, ...); maps are averaged
            per level.
    """

    def __init__(self, store: AttentionMapStore, level: int) -> None:
        self.store = store
        self.level = level

    def __call__(self,
                 attn,
                 hidden_states: torch.Tensor,
                 encoder_hidden_states: Optional[torch.Tensor] = None,
                 attention_mask: Optional[torch.Tensor] = None,
                 temb: Optional[torch.Tensor] = None,
                 **kwargs) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        batch_size, seq_len, _ = (hidden_states.shape
                                  if encoder_hidden_states is None else
                                  encoder_hidden_states.shape)
        attention_mask = attn.prepare_attention_mask(attention_mask, seq_len,
                                                     batch_size)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(
                1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(
                encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        query = attn.head_to_batch_dim(query)
        key = attn.head_to_batch_dim(key)
        value = attn.head_to_batch_dim(value)

        probs = attn.get_attention_scores(query, key, attention_mask)
        nq, nk = probs.shape[-2:]
        self.store.add(self.level,
                       probs.view(batch_size, attn.heads, nq, nk).mean(1))

        hidden_states = torch.bmm(probs, value)
        hidden_states = attn.batch_to_head_dim(hidden_states)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor
