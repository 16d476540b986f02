"""Rewrite any vpd config to the tiny SD-shaped preset, for fast tests.

``tinyfy(cfg)`` works on a loaded :class:`mmengine.config.Config` (or a
model dict) of any task:

* every ``StableDiffusionBackbone`` dict anywhere inside ``model`` (also
  inside a wrapper's ``module``) gets ``unet='tiny'``, ``vae='tiny'`` and no
  weights (``pretrained=None``; a segmentor-level ``pretrained`` too);
* every dict with a ``class_embeddings`` key gets ``class_embeddings=None``
  (seeded random embeddings; ``num_classes`` must be in the config);
* widths tied to the SD UNet are shrunk to the tiny preset: keys
  ``embed_dim`` / ``text_dim`` / ``context_dim`` / ``prompt_dim`` equal to
  an SD cross-attention width (768, 1024) become the tiny one (32), and
  ``time_embed_dim`` equal to an SD time-embedding width (1280) becomes the
  tiny one (128);
* ``SyncBN`` becomes ``BN`` (single-process tests);
* a neck with ``in_channels`` gets the built tiny backbone's
  ``out_channels`` (attention-map channels included); without a neck, a
  decode head taking all levels (``in_channels`` a list, e.g.
  ``SimpleDecodingHead``) gets them;
* a ``SentenceConditioner`` gets ``text_encoder=None`` (a seeded random
  tiny CLIP text model of the tiny width, no files).
"""
import copy
from typing import Any, Optional, Tuple, Union

from mmengine.config import Config, ConfigDict

BACKBONE = 'StableDiffusionBackbone'
SD_CONTEXT_DIMS = (768, 1024)
SD_TIME_EMBED_DIMS = (1280, )
WIDTH_KEYS = ('embed_dim', 'text_dim', 'context_dim', 'prompt_dim')


def _walk(node: Any, fn) -> None:
    """Call ``fn`` on every dict inside ``node`` (depth first)."""
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _walk(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, fn)


def _find_backbones(model: dict) -> list:
    found = []
    _walk(model, lambda d: found.append(d) if d.get('type') == BACKBONE
          else None)
    return found


def tiny_backbone_shape(backbone_cfg: dict) -> Tuple[list, int, int]:
    """Build a (tiny) backbone config; its out_channels and widths."""
    import torch

    from vpd.registry import MODELS
    state = torch.random.get_rng_state()
    try:
        bb = MODELS.build(copy.deepcopy(backbone_cfg))
    finally:
        torch.random.set_rng_state(state)
    return list(bb.out_channels), int(bb.context_dim), int(bb.time_embed_dim)


def tinyfy(cfg: Union[Config, dict],
           unet: Any = 'tiny',
           vae: Any = 'tiny') -> Union[Config, dict]:
    """Rewrite ``cfg`` (in place) to the tiny preset and return it.

    Args:
        cfg (Config | dict): A full config (with ``model``) or a model dict.
        unet (str | dict): UNet architecture to use. Defaults to 'tiny'.
        vae (str | dict): VAE architecture to use. Defaults to 'tiny'.

    Returns:
        Config | dict: ``cfg``.
    """
    model = cfg['model'] if 'model' in cfg else cfg
    backbones = _find_backbones(model)
    if not backbones:
        raise ValueError(f'No {BACKBONE} inside the model config')
    shape: Optional[Tuple[list, int, int]] = None
    for bb in backbones:
        bb.update(unet=copy.deepcopy(unet), vae=copy.deepcopy(vae),
                  pretrained=None)
        shape = tiny_backbone_shape(bb)
    out_channels, context_dim, time_embed_dim = shape

    def rewrite(d: dict) -> None:
        if d.get('type') == BACKBONE:
            return
        if 'backbone' in d and 'pretrained' in d:
            d['pretrained'] = None  # segmentor-level SD weights
        if 'class_embeddings' in d:
            d['class_embeddings'] = None
        for key in WIDTH_KEYS:
            if d.get(key) in SD_CONTEXT_DIMS:
                d[key] = context_dim
        if d.get('time_embed_dim') in SD_TIME_EMBED_DIMS:
            d['time_embed_dim'] = time_embed_dim
        if d.get('type') == 'SyncBN':
            d['type'] = 'BN'
        if d.get('type') == 'SentenceConditioner':
            d['text_encoder'] = None
            d.pop('feature_file', None)
        neck = d.get('neck')
        if isinstance(neck, dict) and 'in_channels' in neck and 'backbone' in d:
            neck['in_channels'] = list(out_channels)
        head = d.get('decode_head')
        if ('backbone' in d and not isinstance(neck, dict)
                and isinstance(head, dict)
                and isinstance(head.get('in_channels'), (list, tuple))
                and len(head['in_channels']) == len(out_channels)):
            head['in_channels'] = list(out_channels)

    _walk(model, rewrite)
    return cfg


def tiny_model_cfg(path: str) -> ConfigDict:
    """``Config.fromfile(path)`` -> tinyfied model config."""
    return tinyfy(Config.fromfile(path)).model
