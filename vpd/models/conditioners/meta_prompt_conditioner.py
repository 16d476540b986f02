"""Meta Prompts conditioning: learnable prompts and per-loop time vectors."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from vpd.registry import MODELS
from .text_adapter import TextAdapter

#: Loops of the official Meta Prompts checkpoints (all released models use 3;
#: a 1-loop model simply has no keys for loops 2 and 3).
OFFICIAL_NUM_LOOPS = 3

#: How the conditioner's part of the official Meta Prompts checkpoints
#: (``fudan-zvg/meta-prompts``) maps onto a model built with
#: :class:`MetaPromptConditioner` as ``conditioner``, one prefix to one prefix,
#: in the format of ``OFFICIAL_VPD_SEG_KEY_MAP``
#: (``vpd.models.segmentors.diffusion_segmentor``): ``(official prefix, our
#: prefix, rule)``; a prefix ending with ``.`` matches the keys under it,
#: any other entry matches one key exactly; ``'same'``: the tensor is copied
#: unchanged. Use with :func:`map_official_key`.
#:
#: * ``'depth'`` (``MetaPromptDepth``, ``{'model': state_dict}``): per loop
#:   ``i`` a prompt set ``encoder.meta_prompts{i}`` ``[50, 768]``, its adapter
#:   ``encoder.text_adapter{i}.fc.{0,2}`` (Linear-GELU-Linear) and a time
#:   vector ``encoder.t{i}`` ``[1, 1280]``.
#: * ``'seg'`` (``MetaPromptsSeg``, mmcv ``state_dict``): one shared set
#:   ``meta_prompts`` ``[150, 768]``, no adapter, ``t{i}`` per loop.
#:
#: The neck, heads and backbone entries are in
#: ``vpd.models.necks.meta_prompt_depth_neck.OFFICIAL_MP_DEPTH_KEY_MAP`` and
#: ``vpd.models.necks.meta_prompt_seg_neck.OFFICIAL_MP_SEG_KEY_MAP``.
OFFICIAL_MP_CONDITIONER_KEY_MAP: Dict[str, Tuple[Tuple[str, str, str],
                                                 ...]] = {
    'depth': tuple(entry for i in range(1, OFFICIAL_NUM_LOOPS + 1)
                   for entry in (
                       (f'encoder.meta_prompts{i}',
                        f'conditioner.meta_prompts{i}', 'same'),
                       (f'encoder.text_adapter{i}.',
                        f'conditioner.text_adapter{i}.', 'same'),
                       (f'encoder.t{i}', f'conditioner.t{i}', 'same'),
                   )),
    'seg': (('meta_prompts', 'conditioner.meta_prompts', 'same'), ) + tuple(
        (f't{i}', f'conditioner.t{i}', 'same')
        for i in range(1, OFFICIAL_NUM_LOOPS + 1)),
}

KeyMap = Sequence[Tuple[str, Optional[str], str]]


def map_official_key(key: str, table: KeyMap) -> Optional[Tuple[str, str]]:
    """Where an official checkpoint key goes according to ``table``.

    Args:
        key (str): Official state-dict key.
        table (Sequence[tuple]): ``(official prefix, our prefix, rule)``
            entries; the first match wins. A prefix ending with ``.`` matches
            every key under it, any other entry one key exactly.

    Returns:
        tuple | None: ``(our key, rule)`` (our key ``''`` when the rule is
        ``'drop'``), or None when no entry matches.
    """
    for src, dst, rule in table:
        if key == src or (src.endswith('.') and key.startswith(src)):
            if dst is None:
                return '', 'drop'
            return dst + key[len(src):], rule
    return None


@MODELS.register_module()
class MetaPromptConditioner(nn.Module):
    """Learnable meta prompts as the UNet's encoder hidden states.

    Meta Prompts replaces text conditioning with ``num_prompts`` learnable
    embeddings of the cross-attention width (no CLIP text encoder). With
    recurrent refinement (``num_loops`` UNet passes with shared weights) each
    loop gets its own learnable time-embedding vector, fed where the UNet's
    time embedding goes, and either its own prompt set (``share_prompts=
    False``, depth) or the one shared set (seg). An optional adapter
    (Linear-GELU-Linear, output used as is, no residual) refines each
    prompt set (depth: one adapter per loop; with shared prompts one
    adapter).

    Parameter names follow the reference so its checkpoints map one to one
    (:data:`OFFICIAL_MP_CONDITIONER_KEY_MAP`): ``meta_prompts{i}`` /
    ``meta_prompts``, ``text_adapter{i}.fc.*`` / ``text_adapter.fc.*``,
    ``t{i}`` (``i`` from 1). Initialisation as the reference: prompts and
    time vectors standard normal, adapters PyTorch's default.

    The conditioner protocol: ``forward(batch_size, data_samples)`` returns
    ``context`` (one ``[B, N, C]`` tensor per loop), ``time_embeds`` (one
    ``[B, D]`` tensor per loop) and ``prompts`` (the last loop's context,
    used by the feature re-arrangement of the neck).

    Args:
        num_prompts (int): N, prompts per set (depth 50, seg 150).
            Defaults to 50.
        embed_dim (int): C, the UNet's cross-attention width. Defaults to
            768.
        num_loops (int): K, recurrent refinement loops; must equal the
            backbone's ``num_loops``. Defaults to 3.
        share_prompts (bool): One prompt set for all loops. Defaults to
            False.
        use_adapter (bool): Refine the prompts with a Linear-GELU-Linear
            adapter. Defaults to True.
        adapter_hidden_dim (int, optional): Adapter width. Defaults to
            ``embed_dim``.
        time_embed_dim (int): D, the UNet's time-embedding width (SD1.5:
            1280, ``4 * block_out_channels[0]``). Defaults to 1280.
    """

    def __init__(self,
                 num_prompts: int = 50,
                 embed_dim: int = 768,
                 num_loops: int = 3,
                 share_prompts: bool = False,
                 use_adapter: bool = True,
                 adapter_hidden_dim: Optional[int] = None,
                 time_embed_dim: int = 1280) -> None:
        super().__init__()
        for name, value in (('num_prompts', num_prompts),
                            ('embed_dim', embed_dim),
                            ('num_loops', num_loops),
                            ('time_embed_dim', time_embed_dim)):
            if int(value) < 1:
                raise ValueError(f'{name} must be >= 1, got {value}')
        self.num_prompts = int(num_prompts)
        self.embed_dim = int(embed_dim)
        self.num_loops = int(num_loops)
        self.share_prompts = bool(share_prompts)
        self.use_adapter = bool(use_adapter)
        self.time_embed_dim = int(time_embed_dim)
        # Creation order as the reference (t_i, then prompts_i, adapter_i).
        for i in range(1, self.num_loops + 1):
            setattr(self, f't{i}',
                    nn.Parameter(torch.randn(1, self.time_embed_dim)))
            if not self.share_prompts:
                setattr(self, f'meta_prompts{i}',
                        nn.Parameter(torch.randn(self.num_prompts,
                                                 self.embed_dim)))
                if self.use_adapter:
                    setattr(self, f'text_adapter{i}',
                            TextAdapter(self.embed_dim, adapter_hidden_dim))
        if self.share_prompts:
            self.meta_prompts = nn.Parameter(
                torch.randn(self.num_prompts, self.embed_dim))
            if self.use_adapter:
                self.text_adapter = TextAdapter(self.embed_dim,
                                                adapter_hidden_dim)

    # ------------------------------------------------------------------
    def loop_prompts(self, loop: int) -> torch.Tensor:
        """The (adapted) prompts ``[N, C]`` of loop ``loop`` (0-based)."""
        if not 0 <= loop < self.num_loops:
            raise IndexError(f'loop {loop} out of range for num_loops='
                             f'{self.num_loops}')
        if self.share_prompts:
            prompts = self.meta_prompts
            adapter = getattr(self, 'text_adapter', None)
        else:
            prompts = getattr(self, f'meta_prompts{loop + 1}')
            adapter = getattr(self, f'text_adapter{loop + 1}', None)
        return adapter(prompts) if adapter is not None else prompts

    def time_embed(self, loop: int) -> torch.Tensor:
        """The learnable time-embedding vector ``[1, D]`` of loop ``loop``."""
        return getattr(self, f't{loop + 1}')

    def forward(self, batch_size: int,
                data_samples: Optional[List] = None) -> dict:
        """Build the per-loop conditioning of a batch.

        Args:
            batch_size (int): B.
            data_samples (list, optional): Unused (the prompts do not depend
                on the image).

        Returns:
            dict: ``context`` (list of K ``[B, N, C]``), ``time_embeds``
            (list of K ``[B, D]``) and ``prompts`` (``[B, N, C]``, the last
            loop's context).
        """
        if self.share_prompts:
            shared = self.loop_prompts(0)
            sets = [shared] * self.num_loops
        else:
            sets = [self.loop_prompts(i) for i in range(self.num_loops)]
        context = [p.unsqueeze(0).expand(batch_size, -1, -1) for p in sets]
        time_embeds = [
            self.time_embed(i).expand(batch_size, -1)
            for i in range(self.num_loops)
        ]
        return dict(context=context, time_embeds=time_embeds,
                    prompts=context[-1])
