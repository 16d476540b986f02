"""Building the Stable Diffusion UNet and VAE and loading their weights.

Three sources of weights, all offline:

* a local diffusers folder (``unet/`` and ``vae/`` subfolders, or a folder
  that is itself a UNet or VAE), loaded with diffusers' ``from_pretrained``;
* an original single-file checkpoint in CompVis ``ldm`` layout (``.ckpt`` or
  ``.safetensors``, e.g. ``v1-5-pruned-emaonly.ckpt``) whose UNet/VAE keys are
  converted with diffusers' own ``convert_ldm_unet_checkpoint`` /
  ``convert_ldm_vae_checkpoint`` against an architecture preset shipped in
  ``vpd/models/backbones/presets`` (so no hub request is made);
* nothing: the architecture is built randomly initialised (tests, tiny
  configs).

Hand-written here: the inverse direction (diffusers -> ldm key names,
:func:`unet_state_dict_to_ldm`, :func:`vae_state_dict_to_ldm`).  diffusers
ships it only as an unpackaged script; we need it to write official-layout
checkpoints for round-trip and parity tests.
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
import re
from typing import Any, Dict, Optional, Tuple, Union

import torch

PRESET_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'presets')
PRESETS = ('sd15', 'sd21', 'tiny')
LDM_UNET_PREFIX = 'model.diffusion_model.'
LDM_VAE_PREFIX = 'first_stage_model.'

ArchSpec = Union[str, Dict[str, Any]]


def load_preset(name: str, part: str) -> Dict[str, Any]:
    """Return the diffusers config dict of an architecture preset.

    Args:
        name (str): One of ``'sd15'``, ``'sd21'``, ``'tiny'``.
        part (str): ``'unet'`` or ``'vae'``.

    Returns:
        dict: A fresh copy of the config (safe to modify).
    """
    if name not in PRESETS:
        raise KeyError(f'Unknown Stable Diffusion architecture preset '
                       f'"{name}"; expected one of {PRESETS} or a config dict.')
    path = osp.join(PRESET_DIR, f'{name}_{part}.json')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def resolve_arch(spec: ArchSpec, part: str) -> Dict[str, Any]:
    """Turn a preset name or a (partial) config dict into a full config.

    A dict may name a ``preset`` to start from and override any key, e.g.
    ``dict(preset='tiny', cross_attention_dim=16)``.

    Args:
        spec (str | dict): Preset name or config dict.
        part (str): ``'unet'`` or ``'vae'``.

    Returns:
        dict: diffusers config dict (without ``_class_name``).
    """
    if isinstance(spec, str):
        cfg = load_preset(spec, part)
    elif isinstance(spec, dict):
        spec = dict(spec)
        preset = spec.pop('preset', None)
        cfg = load_preset(preset, part) if preset else {}
        cfg.update(copy.deepcopy(spec))
    else:
        raise TypeError(f'{part} architecture must be a preset name or a '
                        f'dict, got {type(spec).__name__}')
    cfg.pop('_class_name', None)
    cfg.pop('_diffusers_version', None)
    return cfg


def build_unet(cfg: Dict[str, Any]):
    """Build a randomly initialised ``UNet2DConditionModel`` from a config."""
    from diffusers import UNet2DConditionModel
    return UNet2DConditionModel.from_config(cfg)


def build_vae(cfg: Dict[str, Any]):
    """Build a randomly initialised ``AutoencoderKL`` from a config."""
    from diffusers import AutoencoderKL
    return AutoencoderKL.from_config(cfg)


_HUB_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')


def _offline_error(path: str) -> FileNotFoundError:
    return FileNotFoundError(
        f'Stable Diffusion weights "{path}" are not a local path, and the '
        'Hugging Face hub is not reachable (offline, or HF_HUB_OFFLINE=1). '
        'Pass a local path instead: a diffusers folder with unet/ and vae/ '
        'subfolders, or an original single-file checkpoint such as '
        'v1-5-pruned-emaonly.ckpt or a .safetensors file (see README, '
        '"Stable Diffusion weights").')


def _is_offline() -> bool:
    return os.environ.get('HF_HUB_OFFLINE', '0').lower() in ('1', 'true',
                                                            'yes', 'on')


def _load_diffusers_folder(path: str, unet_cfg: Dict[str, Any],
                           vae_cfg: Dict[str, Any], local_only: bool):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    kwargs = dict(local_files_only=local_only)
    if osp.isdir(osp.join(path, 'unet')) or not osp.isdir(path):
        unet = UNet2DConditionModel.from_pretrained(
            path, subfolder='unet', **kwargs)
        vae = AutoencoderKL.from_pretrained(path, subfolder='vae', **kwargs)
        return unet, vae
    raise FileNotFoundError(
        f'"{path}" is a folder but not a diffusers Stable Diffusion folder: '
        'expected subfolders unet/ and vae/ (each with config.json and '
        'diffusion_pytorch_model.safetensors or .bin).')


def _refuse_non_finite(path: str, unet: torch.nn.Module,
                       vae: torch.nn.Module) -> None:
    """Refuse NaN/Inf weights read by diffusers (the single-file path is
    checked by :func:`vpd.utils.checkpoint.load_checkpoint_file`)."""
    from vpd.utils.checkpoint import NonFiniteTensorError, non_finite_tensors
    bad = (non_finite_tensors(dict(unet.state_dict()), 'unet') +
           non_finite_tensors(dict(vae.state_dict()), 'vae'))
    if bad:
        name, count, total = bad[0]
        raise NonFiniteTensorError(
            f'Refused the Stable Diffusion weights in "{path}": {len(bad)} '
            f'tensor(s) hold NaN/Inf values (e.g. "{name}": {count} of '
            f'{total} values).', path=path, names=[b[0] for b in bad])


def split_ldm_checkpoint(state: Dict[str, Any], path: str = '<state dict>'
                         ) -> Dict[str, torch.Tensor]:
    """Return the flat ldm state dict of an original SD checkpoint.

    Args:
        state (dict): What was loaded from the file (``{'state_dict': ...}``
            as in ``v1-5-pruned-emaonly.ckpt``, or flat).
        path (str): File name used in error messages.
    """
    if 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    if not any(k.startswith(LDM_UNET_PREFIX) for k in state):
        raise KeyError(
            f'"{path}" is not an original Stable Diffusion checkpoint: no key '
            f'starts with "{LDM_UNET_PREFIX}" (found e.g. '
            f'{sorted(state)[:5]}). Expected the CompVis ldm layout of '
            'v1-5-pruned-emaonly.ckpt / v2-1_768-ema-pruned.safetensors.')
    return state


def convert_ldm_to_diffusers(
        state: Dict[str, torch.Tensor], unet_cfg: Dict[str, Any],
        vae_cfg: Dict[str, Any]
) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """Convert ldm UNet/VAE keys to diffusers keys with diffusers' functions.

    Args:
        state (dict): Flat ldm state dict (``model.diffusion_model.*``,
            ``first_stage_model.*``).
        unet_cfg (dict): diffusers UNet config of the target architecture.
        vae_cfg (dict): diffusers VAE config of the target architecture.

    Returns:
        tuple[dict, dict]: UNet and VAE state dicts in diffusers layout.
    """
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint)
    unet_sd = convert_ldm_unet_checkpoint(state, unet_cfg)
    vae_sd = convert_ldm_vae_checkpoint(state, vae_cfg)
    return unet_sd, vae_sd


def load_state_into(module: torch.nn.Module, state: Dict[str, torch.Tensor],
                    what: str, path: str,
                    ignore_missing: Tuple[str, ...] = ()) -> None:
    """Strictly load ``state`` into ``module`` with a readable error.

    Args:
        module (nn.Module): Target.
        state (dict): State dict.
        what (str): Name used in the error (``'UNet'``).
        path (str): Source file used in the error.
        ignore_missing (tuple[str]): Key prefixes allowed to be missing
            (parts deliberately not built).
    """
    own = module.state_dict()
    misshapen = [(k, tuple(v.shape), tuple(own[k].shape))
                 for k, v in state.items()
                 if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if misshapen:
        raise ValueError(
            f'{what} weights from "{path}" do not match the configured '
            f'architecture: {len(misshapen)} tensors have another shape '
            f'(e.g. {misshapen[:3]} as (key, file, model)). Check that the '
            'architecture preset (unet=/vae= sd15 / sd21 / tiny, or the dict '
            'overrides) matches the checkpoint, e.g. unet=\'sd21\', '
            'vae=\'sd21\' for Stable Diffusion 2.1.')
    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys
               if not k.startswith(ignore_missing)]
    if missing or result.unexpected_keys:
        raise KeyError(
            f'{what} weights from "{path}" do not match the configured '
            f'architecture: {len(missing)} missing keys (e.g. {missing[:5]}), '
            f'{len(result.unexpected_keys)} unexpected keys (e.g. '
            f'{result.unexpected_keys[:5]}). Check that the architecture '
            'preset (sd15 / sd21) matches the checkpoint.')


def check_ldm_architecture(state: Dict[str, torch.Tensor],
                           unet_cfg: Dict[str, Any], vae_cfg: Dict[str, Any],
                           path: str) -> None:
    """Refuse an ldm file whose UNet/VAE shapes are not the configured ones.

    The message names each differing key with both values and the
    ``--cfg-options`` that fit the file (a preset when one matches,
    :mod:`vpd.models.backbones.sd_arch`).

    Args:
        state (dict): Flat ldm state dict.
        unet_cfg (dict): The configured UNet.
        vae_cfg (dict): The configured VAE.
        path (str): The file, for the message.

    Raises:
        ValueError: The architectures differ.
    """
    from .sd_arch import (ArchInferenceError, complete_arch,
                          infer_unet_config, infer_vae_config,
                          shape_differences, shapes_of)
    problems, hints = [], []
    for part, cfg, prefix, infer in (
            ('unet', unet_cfg, LDM_UNET_PREFIX, infer_unet_config),
            ('vae', vae_cfg, LDM_VAE_PREFIX, infer_vae_config)):
        try:
            inferred = infer(shapes_of(state, prefix))
        except ArchInferenceError as e:
            raise ValueError(f'"{path}": {e}') from None
        diff = shape_differences(inferred, cfg)
        if not diff:
            continue
        problems += [f'{part}.{k}: config {a}, file {b}' for k, a, b in diff]
        _, base, _ = complete_arch(inferred, part)
        if base in PRESETS:
            hints.append(f'model.backbone.{part}.preset={base}')
        else:
            hints += [f'model.backbone.{part}.{k}={b}' for k, _, b in diff]
    if problems:
        raise ValueError(
            f'Stable Diffusion weights from "{path}" do not match the '
            f'configured architecture, another shape: {"; ".join(problems)}.'
            f' Use --cfg-options {" ".join(hints)} (the widths that follow '
            'from them are derived).')


def build_sd_models(unet: ArchSpec = 'sd15',
                    vae: ArchSpec = 'sd15',
                    pretrained: Optional[str] = None):
    """Build the diffusers UNet and VAE, optionally loading weights.

    Args:
        unet (str | dict): UNet preset name or diffusers config dict.
        vae (str | dict): VAE preset name or diffusers config dict.
        pretrained (str, optional): Diffusers folder, ldm single-file
            checkpoint (``.ckpt`` / ``.safetensors`` / ``.pth``) or, when
            online, a hub id. None builds random weights.

    Returns:
        tuple: ``(UNet2DConditionModel, AutoencoderKL)``.

    Raises:
        vpd.utils.checkpoint.NonFiniteTensorError: The weights hold NaN/Inf
            (the message names the file or folder).
    """
    unet_cfg = resolve_arch(unet, 'unet')
    vae_cfg = resolve_arch(vae, 'vae')
    if pretrained is None:
        return build_unet(unet_cfg), build_vae(vae_cfg)
    path = os.path.expanduser(str(pretrained))
    if osp.isdir(path):
        unet_model, vae_model = _load_diffusers_folder(path, unet_cfg,
                                                       vae_cfg, True)
        _refuse_non_finite(path, unet_model, vae_model)
        return unet_model, vae_model
    if osp.isfile(path):
        from vpd.utils.checkpoint import load_checkpoint_file
        state = split_ldm_checkpoint(load_checkpoint_file(path), path)
        check_ldm_architecture(state, unet_cfg, vae_cfg, path)
        unet_sd, vae_sd = convert_ldm_to_diffusers(state, unet_cfg, vae_cfg)
        unet_model, vae_model = build_unet(unet_cfg), build_vae(vae_cfg)
        load_state_into(unet_model, unet_sd, 'UNet', path,
                        ignore_missing=('conv_norm_out', 'conv_out'))
        load_state_into(vae_model, vae_sd, 'VAE', path,
                        ignore_missing=('decoder.', 'post_quant_conv.'))
        return unet_model, vae_model
    if _HUB_ID.match(path) and not path.endswith(
            ('.ckpt', '.safetensors', '.pth', '.bin')):
        if _is_offline():
            raise _offline_error(path)
        try:
            return _load_diffusers_folder(path, unet_cfg, vae_cfg, False)
        except OSError as e:
            raise _offline_error(path) from e
    from vpd.utils.model_zoo import download_hint
    hint = download_hint(path)
    raise FileNotFoundError(
        f'Stable Diffusion weights "{pretrained}" do not exist. Expected a '
        'diffusers folder (with unet/ and vae/), an original single-file '
        'checkpoint (.ckpt / .safetensors), or null for random weights.'
        + (f' To get them, {hint}.' if hint else ''))


# ---------------------------------------------------------------------------
# diffusers -> ldm key names (hand-written, see module docstring)
# ---------------------------------------------------------------------------
_RESNET_UNET = [('norm1', 'in_layers.0'), ('conv1', 'in_layers.2'),
                ('time_emb_proj', 'emb_layers.1'), ('norm2', 'out_layers.0'),
                ('conv2', 'out_layers.3'), ('conv_shortcut', 'skip_connection')]
_RESNET_VAE = [('conv_shortcut', 'nin_shortcut')]
_VAE_ATTN = [('group_norm', 'norm'), ('to_q', 'q'), ('to_k', 'k'),
             ('to_v', 'v'), ('to_out.0', 'proj_out')]


def _sub(name: str, pairs) -> str:
    for new, old in pairs:
        if name.startswith(new + '.'):
            return old + name[len(new):]
    return name


def unet_state_dict_to_ldm(state: Dict[str, torch.Tensor],
                           cfg: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """Rename a diffusers SD UNet state dict to ldm ``UNetModel`` names.

    Args:
        state (dict): diffusers ``UNet2DConditionModel`` state dict.
        cfg (dict): Its config (``layers_per_block``, block types).

    Returns:
        dict: Keys as in ``model.diffusion_model.*`` without the prefix.
    """
    lpb = cfg['layers_per_block']
    has_attn_up = ['CrossAttn' in t for t in cfg['up_block_types']]
    out = {}
    fixed = {'time_embedding.linear_1': 'time_embed.0',
             'time_embedding.linear_2': 'time_embed.2',
             'conv_in': 'input_blocks.0.0', 'conv_norm_out': 'out.0',
             'conv_out': 'out.2'}
    for key, val in state.items():
        head, _, param = key.rpartition('.')
        m = None
        if head in fixed:
            new = f'{fixed[head]}.{param}'
        elif (m := re.match(r'down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)', key)):
            i, j, rest = int(m[1]), int(m[2]), m[3]
            new = f'input_blocks.{1 + i * (lpb + 1) + j}.0.' + _sub(
                rest, _RESNET_UNET)
        elif (m := re.match(r'down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)',
                            key)):
            i, j, rest = int(m[1]), int(m[2]), m[3]
            new = f'input_blocks.{1 + i * (lpb + 1) + j}.1.{rest}'
        elif (m := re.match(r'down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)',
                            key)):
            new = f'input_blocks.{(int(m[1]) + 1) * (lpb + 1)}.0.op.{m[2]}'
        elif (m := re.match(r'mid_block\.resnets\.(\d+)\.(.*)', key)):
            new = f'middle_block.{2 * int(m[1])}.' + _sub(m[2], _RESNET_UNET)
        elif (m := re.match(r'mid_block\.attentions\.0\.(.*)', key)):
            new = f'middle_block.1.{m[1]}'
        elif (m := re.match(r'up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)', key)):
            i, j, rest = int(m[1]), int(m[2]), m[3]
            new = f'output_blocks.{i * (lpb + 1) + j}.0.' + _sub(
                rest, _RESNET_UNET)
        elif (m := re.match(r'up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)',
                            key)):
            i, j, rest = int(m[1]), int(m[2]), m[3]
            new = f'output_blocks.{i * (lpb + 1) + j}.1.{rest}'
        elif (m := re.match(r'up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)',
                            key)):
            i = int(m[1])
            idx = 2 if has_attn_up[i] else 1
            new = f'output_blocks.{i * (lpb + 1) + lpb}.{idx}.conv.{m[2]}'
        else:
            raise KeyError(f'No ldm name for UNet key "{key}"')
        out[new] = val
    return out


def vae_state_dict_to_ldm(state: Dict[str, torch.Tensor],
                          cfg: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """Rename a diffusers ``AutoencoderKL`` state dict to ldm names.

    Attention projections become 1x1 convolutions as in ldm.

    Args:
        state (dict): diffusers VAE state dict (decoder optional).
        cfg (dict): Its config (number of up blocks).

    Returns:
        dict: Keys as in ``first_stage_model.*`` without the prefix.
    """
    n_up = len(cfg['up_block_types'])
    out = {}
    for key, val in state.items():
        m = None
        if (m := re.match(r'(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)',
                          key)):
            new = f'{m[1]}.mid.block_{int(m[2]) + 1}.' + _sub(m[3],
                                                              _RESNET_VAE)
        elif (m := re.match(r'(encoder|decoder)\.mid_block\.attentions\.0\.(.*)',
                            key)):
            new = f'{m[1]}.mid.attn_1.' + _sub(m[2], _VAE_ATTN)
            if val.ndim == 2:
                val = val[:, :, None, None]
        elif (m := re.match(r'encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)',
                            key)):
            new = f'encoder.down.{m[1]}.block.{m[2]}.' + _sub(m[3],
                                                              _RESNET_VAE)
        elif (m := re.match(
                r'encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)',
                key)):
            new = f'encoder.down.{m[1]}.downsample.conv.{m[2]}'
        elif (m := re.match(r'decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)',
                            key)):
            new = (f'decoder.up.{n_up - 1 - int(m[1])}.block.{m[2]}.' +
                   _sub(m[3], _RESNET_VAE))
        elif (m := re.match(
                r'decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)', key)):
            new = f'decoder.up.{n_up - 1 - int(m[1])}.upsample.conv.{m[2]}'
        elif (m := re.match(r'(encoder|decoder)\.conv_norm_out\.(.*)', key)):
            new = f'{m[1]}.norm_out.{m[2]}'
        elif re.match(r'(encoder|decoder)\.conv_(in|out)\.', key) or \
                key.startswith(('quant_conv.', 'post_quant_conv.')):
            new = key
        else:
            raise KeyError(f'No ldm name for VAE key "{key}"')
        out[new] = val
    return out


def to_ldm_checkpoint(unet_state: Dict[str, torch.Tensor],
                      unet_cfg: Dict[str, Any],
                      vae_state: Dict[str, torch.Tensor],
                      vae_cfg: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """Write diffusers UNet+VAE weights as one flat ldm-layout state dict.

    Args:
        unet_state (dict): diffusers UNet state dict.
        unet_cfg (dict): UNet config.
        vae_state (dict): diffusers VAE state dict.
        vae_cfg (dict): VAE config.

    Returns:
        dict: ``model.diffusion_model.*`` and ``first_stage_model.*`` keys.
    """
    out = {LDM_UNET_PREFIX + k: v
           for k, v in unet_state_dict_to_ldm(unet_state, unet_cfg).items()}
    out.update({LDM_VAE_PREFIX + k: v
                for k, v in vae_state_dict_to_ldm(vae_state, vae_cfg).items()})
    return out
