"""Rewrite any vpd config to the tiny SD-shaped preset, for fast tests.

``tinyfy(cfg)`` works on a loaded :class:`mmengine.config.Config` (or a
model dict) of any task:

* every ``StableDiffusionBackbone`` dict anywhere inside ``model`` (also
  inside a wrapper's ``module``) gets the tiny UNet/VAE (``preset='tiny'``)
  and no weights (``pretrained=None``; a segmentor-level ``pretrained``
  too);
* every dict with a ``class_embeddings`` key gets ``class_embeddings=None``
  (seeded random embeddings; a conditioner without ``num_classes``, e.g.
  KITTI's file-defined scene list, gets 4);
* ``SyncBN`` becomes ``BN`` (single-process tests).

Nothing else changes: the widths that follow from the UNet (conditioner
``embed_dim`` / ``time_embed_dim``, neck ``in_channels`` / ``embed_dim``,
head ``in_channels``) are derived when the model is built
(``vpd/models/backbones/derived_widths.py``), so no config repeats them.
"""
import copy
from typing import Any, Union

from mmengine.config import Config, ConfigDict

BACKBONE = 'StableDiffusionBackbone'


def _walk(node: Any, fn) -> None:
    """Call ``fn`` on every dict inside ``node`` (depth first)."""
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _walk(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, fn)


def tinyfy(cfg: Union[Config, dict],
           unet: Any = None,
           vae: Any = None) -> Union[Config, dict]:
    """Rewrite ``cfg`` (in place) to the tiny preset and return it.

    Args:
        cfg (Config | dict): A full config (with ``model``) or a model dict.
        unet (str | dict, optional): UNet architecture to use. Defaults to
            ``dict(preset='tiny')``.
        vae (str | dict, optional): VAE architecture to use. Defaults to
            ``dict(preset='tiny')``.

    Returns:
        Config | dict: ``cfg``.
    """
    model = cfg['model'] if 'model' in cfg else cfg
    unet = dict(preset='tiny') if unet is None else unet
    vae = dict(preset='tiny') if vae is None else vae
    found = []

    def rewrite(d: dict) -> None:
        if d.get('type') == BACKBONE:
            d.update(unet=copy.deepcopy(unet), vae=copy.deepcopy(vae),
                     pretrained=None)
            found.append(d)
            return
        if 'backbone' in d and 'pretrained' in d:
            d['pretrained'] = None  # segmentor-level SD weights
        if 'class_embeddings' in d:
            d['class_embeddings'] = None
            if d.get('num_classes') is None:
                d['num_classes'] = 4
        if d.get('type') == 'SyncBN':
            d['type'] = 'BN'

    _walk(model, rewrite)
    if not found:
        raise ValueError(f'No {BACKBONE} inside the model config')
    return cfg


def tiny_model_cfg(path: str) -> ConfigDict:
    """``Config.fromfile(path)`` -> tinyfied model config."""
    return tinyfy(Config.fromfile(path)).model
