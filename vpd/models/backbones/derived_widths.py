"""Widths that follow from the Stable Diffusion backbone, filled or checked.

A config names the UNet/VAE architecture once (``backbone.unet`` /
``backbone.vae``); every width that follows from it is derived when the
model is built instead of being repeated in the config:

* ``conditioner.embed_dim`` <- ``backbone.context_dim`` (the UNet's
  ``cross_attention_dim``);
* ``conditioner.time_embed_dim`` (Meta Prompts) <- ``backbone.time_embed_dim``
  (``4 x block_out_channels[0]``);
* ``neck.in_channels`` <- ``backbone.out_channels`` (with the ``K``
  cross-attention map channels when ``attn_maps`` is on);
* ``neck.embed_dim`` of a prompt neck (``uses_prompts = True``, Meta
  Prompts) <- ``conditioner.embed_dim``;
* ``decode_head.in_channels`` / ``auxiliary_head.in_channels`` <- the
  neck's output widths (``FPN``: ``[out_channels] * num_outs``;
  ``VPDDepthNeck``: ``out_channels``; prompt necks: the number of prompts),
  selected by the head's ``in_index`` as mmseg's heads do.

A key that is absent (or None) is filled. A key the config gives
explicitly is kept if it equals the derived value; otherwise the build
stops with a ``ValueError`` naming both keys and both values.

Used by :class:`~vpd.models.segmentors.DiffusionSegmentor` and
:class:`~vpd.models.estimators.DiffusionDepthEstimator` between building
the backbone and building the other parts. Only registry look-ups and
plain config dicts are used here, so this module imports nothing from the
higher rooms (necks, heads, conditioners).
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, List, Optional, Sequence, Union

from vpd.registry import MODELS

Widths = Union[int, List[int]]

__all__ = [
    'fill_width', 'derive_conditioner_cfg', 'derive_neck_cfg',
    'neck_output_channels', 'derive_head_cfg', 'cfg_value'
]


def _norm(value: Any) -> Any:
    """Lists/tuples of numbers -> list of ints; numbers -> int."""
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return value


def _cls(cfg: dict):
    kind = cfg.get('type') if isinstance(cfg, dict) else None
    if kind is None:
        return None
    return kind if inspect.isclass(kind) else MODELS.get(kind)


def _params(cls) -> dict:
    """Constructor arguments of ``cls``, following ``**kwargs`` to the bases
    (mmseg's heads pass ``in_channels`` / ``in_index`` on that way)."""
    if cls is None:
        return {}
    found: dict = {}
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        try:
            params = inspect.signature(klass.__init__).parameters
        except (TypeError, ValueError):  # pragma: no cover - C extensions
            break
        more = False
        for name, param in params.items():
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                more = True
            elif name != 'self' and param.kind is not \
                    inspect.Parameter.VAR_POSITIONAL:
                found.setdefault(name, param)
        if not more:
            break
    return found


def cfg_value(cfg: dict, key: str, default: Any = None) -> Any:
    """``cfg[key]``, else the default of the class's constructor argument.

    Args:
        cfg (dict): A module config with ``type``.
        key (str): Constructor argument name.
        default (Any): Returned when neither gives a value.
    """
    if cfg.get(key) is not None:
        return cfg[key]
    param = _params(_cls(cfg)).get(key)
    if param is not None and param.default is not inspect.Parameter.empty:
        return param.default
    return default


def fill_width(cfg: dict, key: str, value: Any, what: str,
               source: str) -> None:
    """Set ``cfg[key] = value`` if absent; check it if given.

    Args:
        cfg (dict): The module config (modified in place).
        key (str): The width key.
        value (Any): The derived value.
        what (str): Dotted name of ``cfg`` in the config, e.g.
            ``'model.neck'``.
        source (str): Where ``value`` comes from, e.g.
            ``'model.backbone out_channels'``, with an explanation.

    Raises:
        ValueError: The config gives another value; the message names
            ``what.key``, its value, ``source`` and the derived value.
    """
    given = cfg.get(key)
    if given is None:
        cfg[key] = value
        return
    if _norm(given) != _norm(value):
        raise ValueError(
            f'{what}.{key}={_norm(given)} disagrees with {source} = '
            f'{_norm(value)}. Remove {what}.{key} from the config (it is '
            'derived from the backbone when the model is built) or make '
            'them agree.')


def _backbone_source(backbone, name: str) -> str:
    unet = getattr(backbone, 'unet', None)
    cfg = getattr(unet, 'config', None)
    if name == 'context_dim':
        return 'model.backbone.unet.cross_attention_dim'
    if name == 'time_embed_dim':
        boc = list(getattr(cfg, 'block_out_channels', []) or [])
        return (f'the UNet time-embedding width (4 x model.backbone.unet.'
                f'block_out_channels[0], block_out_channels={boc})')
    # out_channels
    boc = list(getattr(cfg, 'block_out_channels', []) or [])
    text = (f'model.backbone out_channels (UNet block_out_channels {boc} '
            f'read at out_blocks {list(getattr(backbone, "out_blocks", []))}')
    attn = getattr(backbone, 'attn_cfg', None)
    if attn:
        text += (f', plus K={attn["num_tokens"]} cross-attention map '
                 f'channels at latent levels {list(attn["levels"])}')
    return text + ')'


def derive_conditioner_cfg(cfg: dict, backbone,
                           what: str = 'model.conditioner') -> dict:
    """The conditioner config with its backbone widths filled/checked.

    ``embed_dim`` <- ``backbone.context_dim``; ``time_embed_dim`` (only for
    conditioners whose constructor takes it, i.e. Meta Prompts) <-
    ``backbone.time_embed_dim``.

    Args:
        cfg (dict): Conditioner config (not modified).
        backbone: The built backbone (``context_dim``, ``time_embed_dim``).
        what (str): Name of the config in messages.

    Returns:
        dict: A new config.
    """
    cfg = copy.deepcopy(cfg)
    params = _params(_cls(cfg))
    context = getattr(backbone, 'context_dim', None)
    if context is not None and 'embed_dim' in params:
        fill_width(cfg, 'embed_dim', int(context), what,
                   _backbone_source(backbone, 'context_dim'))
    time_dim = getattr(backbone, 'time_embed_dim', None)
    if time_dim is not None and 'time_embed_dim' in params:
        fill_width(cfg, 'time_embed_dim', int(time_dim), what,
                   _backbone_source(backbone, 'time_embed_dim'))
    return cfg


def derive_neck_cfg(cfg: dict, backbone, conditioner_cfg: Optional[dict],
                    what: str = 'model.neck') -> dict:
    """The neck config with ``in_channels`` (and a prompt width) derived.

    Args:
        cfg (dict): Neck config (not modified).
        backbone: The built backbone (``out_channels``).
        conditioner_cfg (dict, optional): The derived conditioner config;
            its ``embed_dim`` is the prompt width of a prompt neck.
        what (str): Name of the config in messages.

    Returns:
        dict: A new config.
    """
    cfg = copy.deepcopy(cfg)
    cls = _cls(cfg)
    params = _params(cls)
    out = getattr(backbone, 'out_channels', None)
    if out is not None and 'in_channels' in params:
        fill_width(cfg, 'in_channels', [int(c) for c in out], what,
                   _backbone_source(backbone, 'out_channels'))
    if (getattr(cls, 'uses_prompts', False) and 'embed_dim' in params
            and conditioner_cfg is not None):
        width = cfg_value(conditioner_cfg, 'embed_dim')
        if width is not None:
            fill_width(cfg, 'embed_dim', int(width), what,
                       'model.conditioner.embed_dim (the prompt width, = '
                       'model.backbone.unet.cross_attention_dim)')
    return cfg


def neck_output_channels(neck, conditioner_cfg: Optional[dict] = None
                         ) -> Optional[Widths]:
    """Channels of what a built neck returns (a list: one per level).

    Prompt necks (``uses_prompts``) return one map per prompt: their
    ``output_channels(num_prompts)``; necks with ``out_channels`` and
    ``num_outs`` (mmseg ``FPN``) return ``num_outs`` levels of
    ``out_channels``; a neck with only ``out_channels`` returns one tensor.

    Args:
        neck (nn.Module): The built neck.
        conditioner_cfg (dict, optional): Conditioner config, for the
            number of prompts (``num_prompts``).

    Returns:
        int | list[int] | None: None when the neck does not tell.
    """
    if getattr(neck, 'uses_prompts', False):
        if conditioner_cfg is None or not hasattr(neck, 'output_channels'):
            return None
        num = cfg_value(conditioner_cfg, 'num_prompts')
        return None if num is None else neck.output_channels(int(num))
    out = getattr(neck, 'out_channels', None)
    if out is None:
        return None
    num_outs = getattr(neck, 'num_outs', None)
    if num_outs is not None:
        return [int(out)] * int(num_outs)
    return _norm(out)


def _select(widths: Widths, cfg: dict) -> Widths:
    """What a head with ``cfg`` reads from ``widths`` (mmseg's rules)."""
    if isinstance(widths, int):
        return widths
    in_index = cfg_value(cfg, 'in_index', -1)
    transform = cfg_value(cfg, 'input_transform')
    if isinstance(in_index, Sequence):
        chosen = [widths[i] for i in in_index]
        return sum(chosen) if transform == 'resize_concat' else chosen
    return widths[in_index]


def derive_head_cfg(cfg: dict, widths: Optional[Widths], what: str,
                    source: str) -> dict:
    """A decode/auxiliary head config with ``in_channels`` derived.

    Args:
        cfg (dict): Head config (not modified).
        widths (int | list[int], optional): What the neck (or, without a
            neck, the backbone) returns; None: nothing is derived.
        what (str): Name of the config in messages
            (``'model.decode_head'``).
        source (str): Where ``widths`` come from, for messages.

    Returns:
        dict: A new config.
    """
    cfg = copy.deepcopy(cfg)
    if widths is None or 'in_channels' not in _params(_cls(cfg)):
        return cfg
    try:
        want = _select(widths, cfg)
    except IndexError:
        raise ValueError(
            f'{what}.in_index={cfg_value(cfg, "in_index")} selects levels '
            f'that {source} (widths {widths}) does not have') from None
    fill_width(cfg, 'in_channels', want, what,
               f'{source} (widths {_norm(widths)}, selected by in_index '
               f'{_norm(cfg_value(cfg, "in_index", -1))})')
    return cfg
