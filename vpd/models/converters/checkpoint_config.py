"""Make a model config fit the checkpoint it will load.

Two sources, tried in order:

1. **The checkpoint's own model config.** ``tools/model_converters/
   official_to_vpd.py`` writes the resolved model config it converted for
   (architecture inferred from the weights, ``--cfg-options`` applied) into
   the output's metadata, as JSON under :data:`MODEL_CONFIG_KEY` (``meta``
   of a ``.pth``, the header metadata of a ``.safetensors``). When the given
   config builds another model, that model config is used instead (the
   given config's run-time options, :data:`KEPT_FROM_CONFIG`, are kept),
   with a :class:`CheckpointConfigWarning` naming what differed.
2. **The shapes of a released checkpoint** (official VPD / Meta Prompts /
   mmseg layouts, converted on the fly): the Stable Diffusion UNet and VAE
   architecture is inferred from the tensor shapes
   (:mod:`vpd.models.backbones.sd_arch`), or read from an ldm yaml
   (``original_config``); when it differs from the config's, the
   backbone's ``unet`` / ``vae`` are replaced by the inferred full configs,
   with a warning. Every width that follows from them is derived when the
   model is built.

Only key names, shapes and metadata are read here (tensors are memory
mapped or not loaded at all), through the safe loader; JSON is parsed, no
code from a checkpoint runs.
"""
from __future__ import annotations

import copy
import json
import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple

from vpd.models.backbones.sd_arch import (ArchInferenceError,
                                          arch_from_original_config,
                                          complete_arch, infer_unet_config,
                                          infer_vae_config, shapes_of)
from vpd.models.backbones.sd_weights import (LDM_UNET_PREFIX, LDM_VAE_PREFIX,
                                             resolve_arch)
from .official import (SOURCE_FORMATS, ConversionError, detect_source,
                       unwrap_checkpoint)

__all__ = [
    'MODEL_CONFIG_KEY', 'CheckpointConfigWarning', 'infer_checkpoint_arch',
    'model_config_to_meta', 'model_config_from_meta',
    'fit_config_to_checkpoint'
]

#: Metadata key of the resolved model config (JSON) in converted files.
MODEL_CONFIG_KEY = 'model_config'
#: Parts of the model config that stay the given config's own: test-time
#: and run-time options that do not change which weights the model has.
KEPT_FROM_CONFIG = ('test_cfg', 'data_preprocessor', 'backbone.dtype',
                    'backbone.gradient_checkpointing', 'backbone.freeze_unet')


_MISSING = object()


class CheckpointConfigWarning(UserWarning):
    """The given config was adapted to the checkpoint it loads."""


def _plain(obj: Any) -> Any:
    """Config (dicts, tuples) -> JSON-like plain data."""
    return json.loads(json.dumps(_to_dict(obj)))


def _to_dict(obj: Any) -> Any:
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    if isinstance(obj, Mapping):
        return {str(k): _to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_dict(v) for v in obj]
    return obj


def model_config_to_meta(model_cfg: Mapping[str, Any]) -> str:
    """The JSON text stored under :data:`MODEL_CONFIG_KEY`.

    Args:
        model_cfg (Mapping): The resolved ``cfg.model``.

    Raises:
        TypeError: The config holds something JSON cannot store (e.g. a
            class object instead of a registry name).
    """
    return json.dumps(_to_dict(model_cfg), sort_keys=True)


def model_config_from_meta(meta: Mapping[str, Any]) -> Optional[dict]:
    """The model config stored in a checkpoint's metadata, or None.

    Args:
        meta (Mapping): ``ckpt['meta']`` or safetensors header metadata.

    Raises:
        ValueError: The entry is there but is not a JSON object.
    """
    text = meta.get(MODEL_CONFIG_KEY) if meta else None
    if text is None:
        return None
    try:
        value = json.loads(text) if isinstance(text, str) else _plain(text)
    except json.JSONDecodeError as e:
        raise ValueError(f'The checkpoint metadata "{MODEL_CONFIG_KEY}" is '
                         f'not valid JSON: {e}') from None
    if not isinstance(value, dict) or 'type' not in value:
        raise ValueError(f'The checkpoint metadata "{MODEL_CONFIG_KEY}" is '
                         'not a model config (a JSON object with "type")')
    return value


def _ldm_shapes(state: Mapping[str, Any], fmt_name: str
                ) -> Tuple[Dict[str, tuple], Dict[str, tuple]]:
    """ldm UNet / VAE shapes of a released checkpoint (no prefixes)."""
    fmt = SOURCE_FORMATS[fmt_name]
    unet: Dict[str, tuple] = {}
    vae: Dict[str, tuple] = {}
    for src, _, rule in fmt.key_map:
        if rule == 'ldm-unet':
            unet.update(shapes_of(state, src))
        elif rule == 'ldm-vae':
            vae.update(shapes_of(state, src))
    return unet, vae


def infer_checkpoint_arch(checkpoint: Mapping[str, Any],
                          unet_cfg: Optional[Mapping[str, Any]] = None,
                          vae_cfg: Optional[Mapping[str, Any]] = None,
                          original_config: Optional[str] = None
                          ) -> Optional[Dict[str, Any]]:
    """The SD architecture of a released (official-layout) checkpoint.

    Args:
        checkpoint (Mapping): The loaded (or peeked) checkpoint, wrapped or
            flat: official VPD / Meta Prompts / mmseg, or an original SD
            file (``model.diffusion_model.*``).
        unet_cfg (Mapping, optional): The config's UNet (full diffusers
            config), preferred for the settings the shapes do not fix.
        vae_cfg (Mapping, optional): The config's VAE, likewise.
        original_config (str, optional): An ldm yaml giving the
            architecture exactly (its shapes are still checked).

    Returns:
        dict | None: ``dict(unet=..., vae=..., source=..., notes=[...])``,
        or None when the checkpoint is not in a released layout (e.g. this
        project's own).

    Raises:
        ArchInferenceError: The ldm part does not describe an SD UNet/VAE,
            or disagrees with ``original_config``.
    """
    state, _ = unwrap_checkpoint(checkpoint)
    if any(k.startswith(LDM_UNET_PREFIX) for k in state):
        unet_shapes = shapes_of(state, LDM_UNET_PREFIX)
        vae_shapes = shapes_of(state, LDM_VAE_PREFIX)
    else:
        try:
            fmt = detect_source(state)
        except ConversionError:
            return None
        if not SOURCE_FORMATS[fmt].supported:
            return None
        unet_shapes, vae_shapes = _ldm_shapes(state, fmt)
    inferred_unet = infer_unet_config(unet_shapes)
    inferred_vae = infer_vae_config(vae_shapes)
    if original_config is not None:
        unet, vae = arch_from_original_config(original_config)
        for part, inferred, full in (('unet', inferred_unet, unet),
                                     ('vae', inferred_vae, vae)):
            _, name, _ = complete_arch(inferred, part, [('yaml', full)])
            if name != 'yaml':
                raise ArchInferenceError(
                    f'The {part} of --original-config "{original_config}" '
                    'does not have the shapes of the checkpoint (inferred '
                    f'{inferred})')
        return dict(unet=unet, vae=vae, source=f'yaml {original_config}',
                    notes=[])
    unet, unet_base, unet_notes = complete_arch(
        inferred_unet, 'unet', [('config', unet_cfg)] if unet_cfg else [])
    vae, vae_base, vae_notes = complete_arch(
        inferred_vae, 'vae', [('config', vae_cfg)] if vae_cfg else [])
    return dict(unet=unet, vae=vae,
                source=f'tensor shapes (unet like {unet_base}, vae like '
                f'{vae_base})', notes=unet_notes + vae_notes)


def _model_cfgs(cfg) -> List[Any]:
    """The model config and, for a TTA wrapper, the model inside it."""
    out = [cfg['model']]
    module = cfg['model'].get('module') if isinstance(cfg['model'],
                                                      Mapping) else None
    if isinstance(module, Mapping):
        out = [module]
    return out


def _pop_path(cfg: dict, path: str, default: Any = None) -> Any:
    *parents, last = path.split('.')
    for key in parents:
        cfg = cfg.get(key) if isinstance(cfg, dict) else None
    if not isinstance(cfg, dict):
        return default
    return cfg.pop(last, default)


def _kept(model: Mapping[str, Any]) -> Dict[str, Any]:
    """The :data:`KEPT_FROM_CONFIG` entries a model config has (copies)."""
    out = {}
    for path in KEPT_FROM_CONFIG:
        node: Any = model
        for key in path.split('.'):
            node = node.get(key, _MISSING) if isinstance(node, Mapping) \
                else _MISSING
        if node is not _MISSING:
            out[path] = copy.deepcopy(node)
    return out


def _arch_part(model: Mapping[str, Any]) -> dict:
    """The model config without the kept parts, UNet/VAE fully resolved (a
    preset name and the dict it stands for compare equal)."""
    part = _plain(model)
    for path in KEPT_FROM_CONFIG:
        _pop_path(part, path)
    backbone = part.get('backbone')
    if isinstance(backbone, dict):
        for name in ('unet', 'vae'):
            if name in backbone:
                try:
                    backbone[name] = _plain(resolve_arch(backbone[name],
                                                         name))
                except (KeyError, TypeError):
                    pass  # not a preset / dict: compared as it is
    return part


def _differences(a: Any, b: Any, prefix: str = 'model') -> List[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f'{prefix}.{key}')
        return out
    return [] if a == b else [f'{prefix}: {a!r} -> {b!r}']


def fit_config_to_checkpoint(cfg, checkpoint: str,
                             original_config: Optional[str] = None
                             ) -> List[str]:
    """Adapt ``cfg.model`` (in place) to the checkpoint it will load.

    See the module docstring. Call it after
    :func:`vpd.apis.prepare_config_for_checkpoint` (whose
    ``pretrained=None`` / ``class_embeddings=None`` the stored configs
    share).

    Args:
        cfg (Config): The config; ``cfg.model`` (or the ``module`` of a TTA
            wrapper) is modified.
        checkpoint (str): Path of the checkpoint file.
        original_config (str, optional): ldm yaml of the SD architecture,
            for released checkpoints.

    Returns:
        list[str]: What was changed (empty: the config already fits).
    """
    from vpd.utils.checkpoint import peek_checkpoint
    ckpt, header = peek_checkpoint(checkpoint)
    meta = header or (ckpt.get('meta') if isinstance(ckpt, Mapping) else None)
    stored = model_config_from_meta(meta or {})
    changes: List[str] = []
    for model in _model_cfgs(cfg):
        if stored is not None:
            diff = _differences(_arch_part(model), _arch_part(stored))
            if diff:
                kept = _kept(model)
                model.clear()
                model.update(copy.deepcopy(stored))
                for path, value in kept.items():
                    *parents, last = path.split('.')
                    target = model
                    for key in parents:
                        target = target.setdefault(key, {})
                    target[last] = value
                changes += diff
            continue
        backbone = model.get('backbone')
        if not isinstance(backbone, Mapping) or 'unet' not in backbone:
            continue
        unet_cfg = resolve_arch(_to_dict(backbone['unet']), 'unet')
        vae_cfg = resolve_arch(_to_dict(backbone.get('vae', 'sd15')), 'vae')
        found = infer_checkpoint_arch(ckpt, unet_cfg, vae_cfg,
                                      original_config)
        if found is None:
            continue
        for part, current in (('unet', unet_cfg), ('vae', vae_cfg)):
            diff = _differences(_plain(current), _plain(found[part]),
                                f'model.backbone.{part}')
            if diff:
                backbone[part] = copy.deepcopy(found[part])
                changes += diff
        if changes:
            changes += [f'(architecture from {found["source"]})'] + \
                found['notes']
    if changes:
        source = ('the model config stored in the checkpoint'
                  if stored is not None else 'the checkpoint weights')
        warnings.warn(
            f'The config does not build the model of checkpoint '
            f'"{checkpoint}"; using {source} instead: ' + '; '.join(
                changes[:12]) + (f'; ... ({len(changes) - 12} more)'
                                 if len(changes) > 12 else ''),
            CheckpointConfigWarning, stacklevel=2)
    return changes
