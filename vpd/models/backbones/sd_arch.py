"""The Stable Diffusion architecture of an ldm checkpoint, from its shapes.

An original (CompVis ``ldm``) checkpoint stores no architecture, and the
released VPD / Meta Prompts / mmseg checkpoints embed such a UNet and VAE
under their own prefixes. The tensor shapes determine almost all of it:

* UNet: ``in_channels`` and ``block_out_channels`` (``conv_in`` and each
  level's first ResBlock), ``layers_per_block`` (where the first
  downsampler sits), which levels have cross-attention (down and up paths
  separately), ``cross_attention_dim`` (``attn2.to_k``),
  ``use_linear_projection`` (``proj_in`` is a linear layer, SD 2.x, or a
  1x1 conv, SD 1.x), ``transformer_layers_per_block``, a mid block without
  attention, ``time_embedding_dim`` and ``out_channels`` when the file holds
  ``time_embed`` / ``out``;
* VAE: ``in_channels``, ``block_out_channels``, ``layers_per_block``,
  ``latent_channels`` (``quant_conv``), the mid-block attention, and
  ``out_channels`` when the decoder is there.

Not in the shapes: the number of attention heads (SD 1.x: 8 heads; SD 2.x:
64-channel heads, diffusers' ``attention_head_dim`` ``[5, 10, 20, 20]``),
GroupNorm groups (32 in every ldm model; the tiny test preset uses 8),
``upcast_attention`` and the VAE ``scaling_factor``. They change outputs, so
:func:`complete_arch` takes them from a candidate whose shapes match
exactly (the config's own architecture first, then the presets), and
otherwise from the closest candidate, adapted to the new widths, with a
note saying so. An ldm yaml (``--original-config``) gives them exactly:
:func:`arch_from_original_config` reads it with diffusers' own
``create_unet_diffusers_config_from_ldm`` /
``create_vae_diffusers_config_from_ldm``.

Hand-written (no library infers a custom-width SD architecture from
weights; diffusers' ``infer_diffusers_model_type`` only tells known model
families apart).
"""
from __future__ import annotations

import copy
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .sd_weights import PRESETS, load_preset

Shapes = Mapping[str, Tuple[int, ...]]

__all__ = [
    'ArchInferenceError', 'shapes_of', 'infer_unet_config',
    'infer_vae_config', 'complete_arch', 'arch_from_original_config',
    'shape_differences', 'UNET_SHAPE_KEYS', 'VAE_SHAPE_KEYS'
]

#: UNet config keys the tensor shapes determine (when the tensors exist).
UNET_SHAPE_KEYS = ('in_channels', 'out_channels', 'block_out_channels',
                   'layers_per_block', 'cross_attention_dim',
                   'down_block_types', 'up_block_types',
                   'use_linear_projection', 'transformer_layers_per_block',
                   'mid_block_type', 'time_embedding_dim')
#: VAE config keys the tensor shapes determine.
VAE_SHAPE_KEYS = ('in_channels', 'out_channels', 'block_out_channels',
                  'layers_per_block', 'latent_channels', 'down_block_types',
                  'up_block_types', 'mid_block_add_attention')
#: diffusers' defaults of the shape keys (for configs that omit them).
_DEFAULTS = dict(out_channels=4, use_linear_projection=False,
                 transformer_layers_per_block=1,
                 mid_block_type='UNetMidBlock2DCrossAttn',
                 time_embedding_dim=None, mid_block_add_attention=True)
_GROUPS = (32, 16, 8, 4, 2, 1)


class ArchInferenceError(ValueError):
    """The shapes do not describe a Stable Diffusion UNet / VAE we build."""


def shapes_of(state: Mapping[str, Any], prefix: str = '') -> Dict[str, tuple]:
    """``{key without prefix: shape}`` of the entries under ``prefix``.

    Args:
        state (Mapping): Tensors (or anything with ``.shape``), or shapes.
        prefix (str): Keep only keys starting with it, and strip it.
    """
    out = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        shape = getattr(value, 'shape', value)
        try:
            out[key[len(prefix):]] = tuple(int(s) for s in shape)
        except TypeError:
            continue  # not a tensor
    return out


def _indices(shapes: Shapes, pattern: str) -> List[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in shapes
                   if (m := rx.match(k)) is not None})


def _has(shapes: Shapes, prefix: str) -> bool:
    return any(k.startswith(prefix) for k in shapes)


def infer_unet_config(shapes: Shapes) -> Dict[str, Any]:
    """diffusers ``UNet2DConditionModel`` config keys read from ldm shapes.

    Args:
        shapes (Mapping[str, tuple]): ldm UNet keys (``input_blocks.*``,
            ``middle_block.*``, ``output_blocks.*``, ``time_embed.*``,
            ``out.*``; no ``model.diffusion_model.`` prefix) -> shapes.

    Returns:
        dict: The :data:`UNET_SHAPE_KEYS` the shapes determine.

    Raises:
        ArchInferenceError: Not an ldm SD UNet (or an SDXL-style one with
            class / added embeddings, which this project does not build).
    """
    conv_in = shapes.get('input_blocks.0.0.weight')
    if conv_in is None or len(conv_in) != 4:
        raise ArchInferenceError(
            'No ldm UNet input conv (input_blocks.0.0.weight) among the '
            f'keys (e.g. {sorted(shapes)[:5]}): not a Stable Diffusion UNet')
    if _has(shapes, 'label_emb.'):
        raise ArchInferenceError(
            'The UNet has class / added-condition embeddings (label_emb, as '
            'SDXL): only SD 1.x / 2.x style UNets are supported')
    inputs = _indices(shapes, r'input_blocks\.(\d+)\.')
    downs = _indices(shapes, r'input_blocks\.(\d+)\.0\.op\.weight')
    n_in = max(inputs) + 1
    if downs:
        lpb = downs[0] - 1
        levels = len(downs) + 1
    else:
        lpb, levels = n_in - 1, 1
    if lpb < 1 or n_in != 1 + levels * lpb + (levels - 1):
        raise ArchInferenceError(
            f'Cannot read the UNet layout: {n_in} input blocks with '
            f'downsamplers at {downs}')
    boc, down_types, tdepth = [], [], []
    context, linear = None, None
    for level in range(levels):
        first = 1 + level * (lpb + 1)
        out = shapes.get(f'input_blocks.{first}.0.out_layers.3.weight')
        if out is None:
            raise ArchInferenceError(
                f'input_blocks.{first}.0.out_layers.3.weight is missing')
        boc.append(out[0])
        attn = f'input_blocks.{first}.1.'
        if _has(shapes, attn):
            down_types.append('CrossAttnDownBlock2D')
            tdepth.append(len(_indices(
                shapes, re.escape(attn) + r'transformer_blocks\.(\d+)\.')))
            k = shapes.get(attn + 'transformer_blocks.0.attn2.to_k.weight')
            if k is not None and context is None:
                context = k[1]
            proj = shapes.get(attn + 'proj_in.weight')
            if proj is not None and linear is None:
                linear = len(proj) == 2
        else:
            down_types.append('DownBlock2D')
            tdepth.append(None)  # unused by the level; see the mid block
    up_types = []
    for i in range(levels):
        first = i * (lpb + 1)
        up_types.append('CrossAttnUpBlock2D' if _has(
            shapes, f'output_blocks.{first}.1.') else 'UpBlock2D')
    if context is None:
        k = shapes.get('middle_block.1.transformer_blocks.0.attn2.to_k.weight')
        context = k[1] if k is not None else None
    # diffusers gives the mid block the depth of the last level
    mid_depth = len(_indices(
        shapes, r'middle_block\.1\.transformer_blocks\.(\d+)\.')) or 1
    tdepth[-1] = mid_depth
    fill = mid_depth if all(d in (None, mid_depth) for d in tdepth) else 1
    tdepth = [fill if d is None else d for d in tdepth]
    cfg: Dict[str, Any] = dict(
        in_channels=conv_in[1], block_out_channels=boc,
        layers_per_block=lpb, down_block_types=down_types,
        up_block_types=up_types,
        use_linear_projection=bool(linear),
        transformer_layers_per_block=(
            tdepth[0] if len(set(tdepth)) == 1 else tdepth))
    if context is not None:
        cfg['cross_attention_dim'] = context
    cfg['mid_block_type'] = ('UNetMidBlock2DCrossAttn' if _has(
        shapes, 'middle_block.1.') else 'UNetMidBlock2D')
    out = shapes.get('out.2.weight')
    if out is not None:
        cfg['out_channels'] = out[0]
    temb = shapes.get('time_embed.0.weight')
    if temb is not None:
        cfg['time_embedding_dim'] = (None if temb[0] == 4 * boc[0] else
                                     temb[0])
    return cfg


def infer_vae_config(shapes: Shapes) -> Dict[str, Any]:
    """diffusers ``AutoencoderKL`` config keys read from ldm VAE shapes.

    Args:
        shapes (Mapping[str, tuple]): ldm VAE keys (``encoder.*``,
            ``quant_conv.*``, optionally ``decoder.*``; no
            ``first_stage_model.`` prefix) -> shapes.

    Returns:
        dict: The :data:`VAE_SHAPE_KEYS` the shapes determine.

    Raises:
        ArchInferenceError: Not an ldm KL autoencoder.
    """
    conv_in = shapes.get('encoder.conv_in.weight')
    quant = shapes.get('quant_conv.weight')
    if conv_in is None or quant is None:
        raise ArchInferenceError(
            'No ldm VAE encoder (encoder.conv_in.weight, quant_conv.weight) '
            f'among the keys (e.g. {sorted(shapes)[:5]})')
    levels = _indices(shapes, r'encoder\.down\.(\d+)\.')
    lpb = len(_indices(shapes, r'encoder\.down\.0\.block\.(\d+)\.'))
    boc = []
    for level in levels:
        conv = shapes.get(f'encoder.down.{level}.block.0.conv2.weight')
        if conv is None:
            raise ArchInferenceError(
                f'encoder.down.{level}.block.0.conv2.weight is missing')
        boc.append(conv[0])
    cfg: Dict[str, Any] = dict(
        in_channels=conv_in[1], block_out_channels=boc, layers_per_block=lpb,
        latent_channels=quant[0] // 2,
        down_block_types=['DownEncoderBlock2D'] * len(boc),
        up_block_types=['UpDecoderBlock2D'] * len(boc),
        mid_block_add_attention=_has(shapes, 'encoder.mid.attn_1.'))
    out = shapes.get('decoder.conv_out.weight')
    if out is not None:
        cfg['out_channels'] = out[0]
    return cfg


def _shape_value(cfg: Mapping[str, Any], key: str) -> Any:
    value = cfg.get(key, _DEFAULTS.get(key))
    if key == 'transformer_layers_per_block' and isinstance(
            value, (list, tuple)) and len(set(value)) == 1:
        value = value[0]
    if isinstance(value, tuple):
        value = list(value)
    return value


#: How much agreeing on a key says that a candidate is of the same family
#: (the widths most, then the depth, then the context width).
_WEIGHTS = dict(block_out_channels=8, layers_per_block=4,
                cross_attention_dim=2)


def _agreement(inferred: Mapping[str, Any], cfg: Mapping[str, Any]
               ) -> Tuple[int, List[str]]:
    """(weighted count of inferred keys ``cfg`` agrees with, the others)."""
    differ = [k for k in inferred
              if _shape_value(cfg, k) != _shape_value(inferred, k)]
    score = sum(_WEIGHTS.get(k, 1) for k in inferred if k not in differ)
    return score, differ


def shape_differences(inferred: Mapping[str, Any],
                      cfg: Mapping[str, Any]) -> List[Tuple[str, Any, Any]]:
    """``(key, config value, checkpoint value)`` of the shape keys that
    differ between a full config and the inferred keys."""
    return [(k, _shape_value(cfg, k), _shape_value(inferred, k))
            for k in inferred
            if _shape_value(cfg, k) != _shape_value(inferred, k)]


def _fit_groups(cfg: Dict[str, Any], notes: List[str], part: str) -> None:
    groups = int(cfg.get('norm_num_groups', 32))
    widths = list(cfg['block_out_channels'])
    if all(w % groups == 0 for w in widths):
        return
    new = next(g for g in _GROUPS if all(w % g == 0 for w in widths))
    notes.append(f'{part}: norm_num_groups {groups} does not divide '
                 f'{widths}; using {new}')
    cfg['norm_num_groups'] = new


def _fit_heads(cfg: Dict[str, Any], base: Mapping[str, Any],
               notes: List[str]) -> None:
    """Adapt ``attention_head_dim`` (diffusers: heads per level) to widths."""
    widths = list(cfg['block_out_channels'])
    heads = base.get('attention_head_dim', 8)
    base_widths = list(base.get('block_out_channels', widths))
    if isinstance(heads, (list, tuple)):
        # SD 2.x style: a fixed channel count per head
        per_head = [w // h for w, h in zip(base_widths, heads)]
        size = per_head[0] if len(set(per_head)) == 1 else 64
        if all(w % size == 0 for w in widths):
            new = [w // size for w in widths]
        else:
            new = [max(1, w // 64) for w in widths]
        if list(heads) != new:
            cfg['attention_head_dim'] = new
            notes.append(f'unet: attention_head_dim {list(heads)} -> {new} '
                         f'({size}-channel heads, as the base)')
        return
    if all(w % int(heads) == 0 for w in widths):
        cfg['attention_head_dim'] = int(heads)
        return
    new = next(h for h in (8, 4, 2, 1) if all(w % h == 0 for w in widths))
    cfg['attention_head_dim'] = new
    notes.append(f'unet: attention_head_dim {heads} does not divide the '
                 f'widths {widths}; using {new} heads')


def complete_arch(inferred: Mapping[str, Any], part: str,
                  candidates: Sequence[Tuple[str, Mapping[str, Any]]] = ()
                  ) -> Tuple[Dict[str, Any], str, List[str]]:
    """A full diffusers config for inferred shape keys.

    The settings the shapes do not determine come from the first candidate
    whose shape keys all agree (``candidates`` in order, then the presets
    ``sd15``, ``sd21``, ``tiny``); without one, from the candidate agreeing
    on the most shape keys (the first on ties), with the head count and
    GroupNorm groups adapted to the new widths, and a note.

    Args:
        inferred (Mapping): From :func:`infer_unet_config` /
            :func:`infer_vae_config`.
        part (str): ``'unet'`` or ``'vae'``.
        candidates (Sequence[tuple[str, Mapping]]): ``(name, full config)``
            to prefer, e.g. ``[('config', the config's UNet)]``.

    Returns:
        tuple: ``(config, name of the base it was completed from, notes)``;
        the base name is e.g. ``'sd21'`` or ``'config'``, suffixed with
        ``'+shapes'`` when the shapes changed it.
    """
    pool = list(candidates) + [(p, load_preset(p, part)) for p in PRESETS]
    scored = []
    for name, cfg in pool:
        agree, differ = _agreement(inferred, cfg)
        if not differ:
            out = copy.deepcopy(dict(cfg))
            out.pop('_class_name', None)
            out.pop('_diffusers_version', None)
            return out, name, []
        scored.append((agree, name, cfg, differ))
    best = max(scored, key=lambda s: s[0])  # max() keeps the first of ties
    _, name, base, differ = best
    out = copy.deepcopy(dict(base))
    out.pop('_class_name', None)
    out.pop('_diffusers_version', None)
    for key, value in inferred.items():
        if _shape_value(out, key) == _shape_value(inferred, key):
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
    notes = [f'{part}: no known architecture has these shapes; settings the '
             f'weights do not determine come from "{name}" (differing: '
             f'{", ".join(differ)})']
    if part == 'unet':
        _fit_heads(out, base, notes)
    _fit_groups(out, notes, part)
    return out, f'{name}+shapes', notes


def arch_from_original_config(path: str, state: Optional[Mapping[str, Any]]
                              = None) -> Tuple[Dict[str, Any],
                                               Dict[str, Any]]:
    """UNet and VAE configs from an ldm yaml (``v1-inference.yaml`` ...).

    Read with ``yaml.safe_load`` (no code runs) and converted by diffusers'
    ``create_unet_diffusers_config_from_ldm`` /
    ``create_vae_diffusers_config_from_ldm``. ldm models use GroupNorm with
    32 groups throughout (``norm_num_groups=32``).

    Args:
        path (str): The yaml file.
        state (Mapping, optional): The ldm checkpoint (prefixed keys), which
            diffusers consults for the image size only.

    Returns:
        tuple[dict, dict]: ``(unet config, vae config)``.

    Raises:
        ArchInferenceError: The file is not an ldm model config.
    """
    import yaml
    from diffusers.loaders.single_file_utils import (
        create_unet_diffusers_config_from_ldm,
        create_vae_diffusers_config_from_ldm)
    with open(path, encoding='utf-8') as f:
        original = yaml.safe_load(f)
    try:
        params = original['model']['params']
        params['unet_config']['params']
        params['first_stage_config']['params']['ddconfig']
    except (KeyError, TypeError):
        raise ArchInferenceError(
            f'"{path}" is not an ldm model config: expected model.params.'
            'unet_config.params and model.params.first_stage_config.params.'
            'ddconfig (as in v1-inference.yaml / v2-inference.yaml)'
        ) from None
    checkpoint = dict(state or {})
    unet = create_unet_diffusers_config_from_ldm(original, checkpoint,
                                                 image_size=None)
    vae = create_vae_diffusers_config_from_ldm(original, checkpoint,
                                               image_size=None)
    unet = {k: v for k, v in unet.items() if v is not None}
    vae = {k: v for k, v in vae.items() if v is not None}
    unet.setdefault('norm_num_groups', 32)
    vae.setdefault('norm_num_groups', 32)
    return unet, vae
