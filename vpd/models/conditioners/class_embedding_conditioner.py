"""VPD conditioning: CLIP class-name embeddings refined by a text adapter."""
import os.path as osp
from typing import List, Optional, Sequence

import torch
import torch.nn as nn

from vpd.registry import MODELS
from vpd.utils.scene_class import SCENE_RULES, scene_class_index
from .text_adapter import TextAdapter


@MODELS.register_module()
class ClassEmbeddingConditioner(nn.Module):
    """Class embeddings + text adapter as the UNet's encoder hidden states.

    Two modes:

    * ``'all'`` (VPD segmentation): the context is all ``K`` adapted class
      embeddings, ``[B, K, C]``.
    * ``'per_image'`` (VPD depth): one embedding per image, chosen by the
      scene class found in the image path by ``scene_rule`` (see
      :func:`vpd.utils.scene_class.scene_class_index`); context
      ``[B, 1, C]``. An image whose path names no scene class gets the mean
      of all class embeddings (mmseg's appended mean row, which it selects
      with id -1), so inference on arbitrary images works.

    Args:
        class_embeddings (str, optional): ``.pth`` (or ``.safetensors`` with
            one tensor) file holding a float tensor ``[K, C]``, e.g. made by
            ``tools/misc/make_class_embeddings.py``. None creates a fixed
            random ``[num_classes, embed_dim]`` buffer (seeded), for tiny
            test/quickstart models only. Defaults to None.
        num_classes (int, optional): K; checked against the file when both
            are given. Defaults to None.
        embed_dim (int): C (the UNet's cross-attention width). Defaults to
            768.
        mode (str): ``'all'`` or ``'per_image'``. Defaults to ``'all'``.
        class_names (Sequence[str], optional): Class names in embedding order,
            needed by ``'per_image'``. Defaults to None.
        gamma_init (float): Initial value of the learnable blend vector.
            Defaults to 1e-4.
        scene_rule (str): How ``'per_image'`` finds the class in a path:
            ``'vpd'`` (the first class name contained in
            ``<folder>_<file>``, VPD's ``nyudepthv2.py``) or ``'mmseg'``
            (the exact name before the first digit, mmseg 1.2.2's
            ``NYUDataset``). Defaults to ``'vpd'``.
    """

    def __init__(self,
                 class_embeddings: Optional[str] = None,
                 num_classes: Optional[int] = None,
                 embed_dim: int = 768,
                 mode: str = 'all',
                 class_names: Optional[Sequence[str]] = None,
                 gamma_init: float = 1e-4,
                 scene_rule: str = 'vpd') -> None:
        super().__init__()
        if mode not in ('all', 'per_image'):
            raise ValueError(f'mode must be "all" or "per_image", got "{mode}"')
        if scene_rule not in SCENE_RULES:
            raise ValueError(f'scene_rule must be one of {SCENE_RULES}, got '
                             f'"{scene_rule}"')
        self.scene_rule = scene_rule
        if class_embeddings is not None:
            emb = self._load(class_embeddings)
            if num_classes is not None and emb.shape[0] != num_classes:
                raise ValueError(
                    f'class_embeddings file "{class_embeddings}" has '
                    f'{emb.shape[0]} rows but the dataset has {num_classes} '
                    'classes; make the file for this dataset with '
                    'tools/misc/make_class_embeddings.py')
            if emb.shape[1] != embed_dim:
                raise ValueError(
                    f'class_embeddings file "{class_embeddings}" has width '
                    f'{emb.shape[1]}, expected embed_dim={embed_dim} (the '
                    "UNet's cross_attention_dim)")
        else:
            if num_classes is None:
                raise ValueError('Give class_embeddings (a file) or '
                                 'num_classes for random embeddings')
            gen = torch.Generator().manual_seed(0)
            emb = torch.randn(num_classes, embed_dim, generator=gen)
        if mode == 'per_image':
            if class_names is None:
                raise ValueError('mode="per_image" needs class_names')
            if len(class_names) != emb.shape[0]:
                raise ValueError(
                    f'{len(class_names)} class_names for {emb.shape[0]} '
                    'class embeddings')
        self.mode = mode
        self.class_names = list(class_names) if class_names else None
        self.num_tokens = emb.shape[0] if mode == 'all' else 1
        self.register_buffer('class_embeddings', emb.float())
        self.text_adapter = TextAdapter(embed_dim)
        self.gamma = nn.Parameter(torch.full((embed_dim, ), gamma_init))

    @staticmethod
    def _load(path: str) -> torch.Tensor:
        from vpd.utils.checkpoint import load_checkpoint_file
        if not osp.isfile(path):
            from vpd.utils.model_zoo import download_hint
            hint = download_hint(path)
            raise FileNotFoundError(
                f'class_embeddings file "{path}" does not exist; '
                + (f'{hint}, or ' if hint else '')
                + 'build it with tools/misc/make_class_embeddings.py')
        obj = load_checkpoint_file(path)
        if isinstance(obj, dict):
            tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
            obj = tensors[0] if len(tensors) == 1 else obj
        if not isinstance(obj, torch.Tensor) or obj.ndim != 2:
            raise ValueError(
                f'class_embeddings file "{path}" must hold one float tensor '
                '[num_classes, dim]')
        return obj

    def class_ids(self, data_samples: Optional[List]) -> List[int]:
        """Scene class id of each sample (-1: none found)."""
        if not data_samples:
            return []
        return [
            scene_class_index(s.metainfo.get('img_path', '') or '',
                              self.class_names, self.scene_rule)
            for s in data_samples
        ]

    def forward(self, batch_size: int,
                data_samples: Optional[List] = None) -> dict:
        """Build the context of a batch.

        Args:
            batch_size (int): B.
            data_samples (list, optional): Samples with ``img_path`` metainfo
                (``'per_image'`` mode).

        Returns:
            dict: ``context`` ``[B, N, C]`` (and no time embedding).
        """
        emb = self.class_embeddings
        if self.mode == 'all':
            ctx = self.text_adapter(emb, self.gamma)
            return dict(context=ctx.unsqueeze(0).expand(batch_size, -1, -1))
        ids = self.class_ids(data_samples)
        if len(ids) != batch_size:
            ids = [-1] * batch_size
        table = torch.cat([emb, emb.mean(0, keepdim=True)], dim=0)
        idx = torch.tensor([i if i >= 0 else emb.shape[0] for i in ids],
                           device=emb.device)
        ctx = self.text_adapter(table[idx], self.gamma)
        return dict(context=ctx.unsqueeze(1))
