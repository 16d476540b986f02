"""Released VPD / Meta Prompts / mmseg checkpoints <-> this project's models.

Each supported source format is one :class:`SourceFormat`: how the file is
wrapped (``{'model': sd}`` or mmcv/mmengine ``{'meta', 'state_dict', ...}``)
and one key-remapping table, in the spirit of timm's ``checkpoint_filter_fn``.
A table is a sequence of ``(official prefix, our prefix, rule)`` entries;
the first entry whose official prefix matches a key wins (a prefix ending
with ``.`` matches every key under it, any other entry one key exactly).
Rules:

``'same'``
    The tensor is copied under the new name.
``'ldm-unet'`` / ``'ldm-vae'``
    The remainder of the key is a CompVis ``ldm`` ``UNetModel`` /
    ``AutoencoderKL`` key. All of them are collected and renamed to diffusers
    names by diffusers' own ``convert_ldm_unet_checkpoint`` /
    ``convert_ldm_vae_checkpoint`` (through
    :func:`vpd.models.backbones.sd_weights.convert_ldm_to_diffusers`),
    against the UNet / VAE architecture of the target model, so a reduced-size
    model converts too. Every ldm key must be consumed by diffusers' mapping
    (checked by mapping the result back with
    :func:`~vpd.models.backbones.sd_weights.unet_state_dict_to_ldm`).
``'duplicate'``
    Another name of a tensor that is also stored elsewhere: Meta Prompts
    saves the UNet's output conv ``out`` again as ``cross_unet_conv2`` and
    ``cross_unet_conv3`` (one module under three names). All copies must be
    equal; one is loaded.
``'mean-row'``
    mmseg's ``class_embed_select=True`` stores ``K + 1`` class embeddings,
    the last row being the mean of the others (used for images of no known
    class). This project computes that mean on the fly, so the row is
    dropped after checking that it is the mean.
``'drop'``
    Not used by this project (noise-schedule buffers and the like).

Besides the table, these parts of converted ldm weights are dropped when the
target model does not build them: the VAE decoder and ``post_quant_conv``
(VPD and Meta Prompts only encode), the UNet output conv (``out`` ->
``conv_norm_out``/``conv_out``; only Meta Prompts' recurrent loops use it)
and the UNet time MLP (``time_embed``; Meta Prompts feeds learnable vectors
instead). Top-level training state (optimizer, epoch, args, meta,
schedulers) is dropped. Anything else that does not land in the model, and
any model key that is not filled, is an error (:class:`ConversionError`)
that lists the offending keys.

:func:`to_official` is the inverse: it writes a model's weights in a source
layout (for round trips and for running a model trained here in the
reference code).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from vpd.models.backbones.sd_weights import (LDM_UNET_PREFIX, LDM_VAE_PREFIX,
                                             convert_ldm_to_diffusers,
                                             unet_state_dict_to_ldm,
                                             vae_state_dict_to_ldm)
from vpd.models.conditioners.meta_prompt_conditioner import \
    OFFICIAL_MP_CONDITIONER_KEY_MAP
from vpd.models.necks.meta_prompt_depth_neck import OFFICIAL_MP_DEPTH_KEY_MAP
from vpd.models.necks.meta_prompt_seg_neck import OFFICIAL_MP_SEG_KEY_MAP
from vpd.models.segmentors.diffusion_segmentor import OFFICIAL_VPD_SEG_KEY_MAP
from vpd.models.segmentors.referring_segmentor import \
    OFFICIAL_VPD_REFER_KEY_MAP

__all__ = [
    'SourceFormat', 'SOURCE_FORMATS', 'FAMILIES', 'VPD_DEPTH_KEY_MAP',
    'MMSEG_VPD_DEPTH_KEY_MAP', 'ConversionError', 'ConversionResult',
    'unwrap_checkpoint', 'detect_source', 'resolve_source',
    'convert_checkpoint', 'load_converted', 'to_official'
]

KeyMap = Sequence[Tuple[str, Optional[str], str]]
RULES = ('same', 'ldm-unet', 'ldm-vae', 'duplicate', 'mean-row', 'drop')

#: Official VPD depth (``wl-zhao/VPD`` ``depth/models_depth/model.py``,
#: ``VPDDepth``; file ``{'model': state_dict}``, keys may carry ``module.``)
#: onto ``DiffusionDepthEstimator`` + ``ClassEmbeddingConditioner``
#: (``per_image``) + ``VPDDepthNeck`` + ``VPDDepthHead``. The reference
#: deleted the UNet's ``out`` and the VAE decoder before saving.
VPD_DEPTH_KEY_MAP: Tuple[Tuple[str, Optional[str], str], ...] = (
    ('encoder.encoder_vq.', 'backbone.vae.', 'ldm-vae'),
    ('encoder.unet.unet.diffusion_model.', 'backbone.unet.', 'ldm-unet'),
    ('encoder.class_embeddings', 'conditioner.class_embeddings', 'same'),
    ('encoder.gamma', 'conditioner.gamma', 'same'),
    ('encoder.text_adapter.', 'conditioner.text_adapter.', 'same'),
    ('encoder.layer1.', 'neck.layer1.', 'same'),
    ('encoder.layer2.', 'neck.layer2.', 'same'),
    ('encoder.out_layer.', 'neck.out_layer.', 'same'),
    ('decoder.', 'decode_head.', 'same'),  # deconv_layers, conv_layers
    ('last_layer_depth.', 'decode_head.last_layer_depth.', 'same'),
)

#: mmsegmentation 1.2.2's VPD depth port (``mmseg/models/backbones/vpd.py``
#: ``VPD`` + ``decode_heads/vpd_depth_head.py`` ``VPDDepthHead``; mmengine
#: file ``{'meta', 'state_dict', ...}``). Its backbone keeps the whole ldm
#: AutoencoderKL (decoder included) and the UNet's ``out``; its fusion layers
#: live in the head under other names (``conv1`` / ``conv2`` /
#: ``conv_aggregation``; ``conv2`` is a bare conv, ours ``layer2.0``).
MMSEG_VPD_DEPTH_KEY_MAP: Tuple[Tuple[str, Optional[str], str], ...] = (
    ('backbone.encoder_vq.', 'backbone.vae.', 'ldm-vae'),
    ('backbone.unet.unet.diffusion_model.', 'backbone.unet.', 'ldm-unet'),
    ('backbone.class_embeddings', 'conditioner.class_embeddings',
     'mean-row'),
    ('backbone.gamma', 'conditioner.gamma', 'same'),
    ('backbone.text_adapter.', 'conditioner.text_adapter.', 'same'),
    ('decode_head.conv1.', 'neck.layer1.', 'same'),
    ('decode_head.conv2.', 'neck.layer2.0.', 'same'),
    ('decode_head.conv_aggregation.', 'neck.out_layer.', 'same'),
    ('decode_head.decoder.', 'decode_head.', 'same'),
    ('decode_head.depth_pred_layer.', 'decode_head.last_layer_depth.',
     'same'),
)


@dataclass(frozen=True)
class SourceFormat:
    """One released checkpoint layout.

    Attributes:
        name (str): Format name, e.g. ``'vpd-depth'``.
        family (str): ``'vpd'``, ``'metaprompts'`` or ``'mmseg'`` (the
            ``--source`` choices of the converter tool).
        task (str): ``'depth'``, ``'seg'`` or ``'refer'``.
        description (str): Where the layout comes from.
        key_map (tuple): The remapping table (see the module docstring).
        wrapper (str): ``'model'`` (``{'model': sd, ...}``) or
            ``'state_dict'`` (mmcv / mmengine ``{'meta', 'state_dict',
            ...}``).
        model_type (str): Class of the target model.
        conditioner_type (str): Class of the target model's conditioner.
        unet_out (bool): The file holds the UNet's output conv ``out``.
        unet_time_embed (bool): The file holds the UNet's ``time_embed``.
        vae_decoder (bool): The file holds the VAE decoder.
        supported (bool): Whether this project can convert it.
        unsupported_reason (str): Why not, when ``supported`` is False.
    """

    name: str
    family: str
    task: str
    description: str
    key_map: Tuple[Tuple[str, Optional[str], str], ...] = ()
    wrapper: str = 'model'
    model_type: str = ''
    conditioner_type: str = ''
    unet_out: bool = False
    unet_time_embed: bool = True
    vae_decoder: bool = False
    supported: bool = True
    unsupported_reason: str = ''


#: Every known source format, by name.
SOURCE_FORMATS: Dict[str, SourceFormat] = OrderedDict(
    (f.name, f) for f in (
        SourceFormat(
            name='vpd-depth',
            family='vpd',
            task='depth',
            description='official VPD depth (wl-zhao/VPD depth/, VPDDepth, '
            "{'model': state_dict})",
            key_map=VPD_DEPTH_KEY_MAP,
            wrapper='model',
            model_type='DiffusionDepthEstimator',
            conditioner_type='ClassEmbeddingConditioner',
            unet_out=False),
        SourceFormat(
            name='vpd-seg',
            family='vpd',
            task='seg',
            description='official VPD segmentation (wl-zhao/VPD '
            'segmentation/, VPDSeg, mmcv {meta, state_dict, optimizer})',
            key_map=tuple(OFFICIAL_VPD_SEG_KEY_MAP),
            wrapper='state_dict',
            model_type='DiffusionSegmentor',
            conditioner_type='ClassEmbeddingConditioner',
            unet_out=True),
        SourceFormat(
            name='vpd-refer',
            family='vpd',
            task='refer',
            description='official VPD referring segmentation (wl-zhao/VPD '
            "refer/, VPDRefer, {'model', 'optimizer', 'epoch', 'args', "
            "'lr_scheduler'})",
            key_map=tuple(OFFICIAL_VPD_REFER_KEY_MAP),
            wrapper='model',
            model_type='ReferringSegmentor',
            conditioner_type='SentenceConditioner',
            unet_out=True),
        SourceFormat(
            name='metaprompts-depth',
            family='metaprompts',
            task='depth',
            description='official Meta Prompts depth (fudan-zvg/meta-prompts '
            "depth/, MetaPromptDepth, {'model': state_dict})",
            key_map=tuple(OFFICIAL_MP_CONDITIONER_KEY_MAP['depth']) +
            tuple(OFFICIAL_MP_DEPTH_KEY_MAP),
            wrapper='model',
            model_type='DiffusionDepthEstimator',
            conditioner_type='MetaPromptConditioner',
            unet_out=True,
            unet_time_embed=False),
        SourceFormat(
            name='metaprompts-seg',
            family='metaprompts',
            task='seg',
            description='official Meta Prompts segmentation '
            '(fudan-zvg/meta-prompts segmentation/, MetaPromptsSeg, mmcv '
            '{meta, state_dict, optimizer})',
            key_map=tuple(OFFICIAL_MP_CONDITIONER_KEY_MAP['seg']) +
            tuple(OFFICIAL_MP_SEG_KEY_MAP),
            wrapper='state_dict',
            model_type='DiffusionSegmentor',
            conditioner_type='MetaPromptConditioner',
            unet_out=True,
            unet_time_embed=True),
        SourceFormat(
            name='mmseg-vpd-depth',
            family='mmseg',
            task='depth',
            description='mmsegmentation 1.2.2 VPD depth (DepthEstimator + '
            'VPD backbone + VPDDepthHead, mmengine {meta, state_dict, ...})',
            key_map=MMSEG_VPD_DEPTH_KEY_MAP,
            wrapper='state_dict',
            model_type='DiffusionDepthEstimator',
            conditioner_type='ClassEmbeddingConditioner',
            unet_out=True,
            vae_decoder=True),
    ))

#: ``--source`` families and their formats.
FAMILIES: Dict[str, Tuple[str, ...]] = {
    'vpd': ('vpd-depth', 'vpd-seg', 'vpd-refer'),
    'metaprompts': ('metaprompts-depth', 'metaprompts-seg'),
    'mmseg': ('mmseg-vpd-depth', ),
}

# Why table entries with the 'drop' rule are dropped, by official prefix.
_DROP_REASONS = {
    'sd_model.': 'ldm LatentDiffusion noise-schedule buffers (betas, '
    'alphas_cumprod, ...), unused',
    'unet.unet.diffusion_model.time_embed.': 'UNet time MLP (Meta Prompts '
    'feeds a learnable vector per loop instead)',
}
_TRAINING_STATE = 'training state outside the weights'
_UNET_OUT = 'UNet output conv (ldm out.*), not built by this model'
_UNET_TIME = 'UNet time MLP (ldm time_embed.*), not built by this model'
_VAE_DECODER = 'VAE decoder / post_quant_conv (the backbone only encodes)'
_DUPLICATE = ('second and third names of the UNet output conv '
              '(cross_unet_conv*), equal to it')


class ConversionError(ValueError):
    """A checkpoint does not fit the model; the message lists the keys.

    Attributes:
        missing (list[str]): Model keys the checkpoint does not fill.
        unexpected (list[str]): Checkpoint keys that go nowhere.
        mismatched (list[str]): ``key: checkpoint shape vs model shape``.
    """

    def __init__(self, message: str, missing: Sequence[str] = (),
                 unexpected: Sequence[str] = (),
                 mismatched: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


@dataclass
class ConversionResult:
    """What :func:`convert_checkpoint` produced.

    Attributes:
        state_dict (OrderedDict): Weights in this project's layout; every
            key of the model, nothing else.
        source (str): The source format name.
        dropped (dict[str, list[str]]): Source keys that were dropped, by
            reason.
        notes (list[str]): Things the user may want to know.
    """

    state_dict: 'OrderedDict[str, torch.Tensor]'
    source: str
    dropped: Dict[str, List[str]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    def summary(self) -> List[str]:
        """Human-readable lines: counts of loaded and dropped keys, notes."""
        lines = [f'source format: {self.source}',
                 f'model keys filled: {len(self.state_dict)}']
        for reason, keys in self.dropped.items():
            lines.append(f'dropped {len(keys)} ({reason}): '
                         f'{_preview(keys, 3)}')
        lines += [f'note: {n}' for n in self.notes]
        return lines


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _preview(keys: Sequence[str], n: int = 10) -> str:
    keys = list(keys)
    head = ', '.join(keys[:n])
    return head + (f', ... ({len(keys) - n} more)' if len(keys) > n else '')


def _match(key: str, table: KeyMap
           ) -> Optional[Tuple[str, Optional[str], str, str]]:
    """First table entry matching ``key``: (src, dst, rule, remainder)."""
    for src, dst, rule in table:
        if key == src or (src.endswith('.') and key.startswith(src)):
            return src, dst, rule, key[len(src):]
    return None


def unwrap_checkpoint(checkpoint: Mapping[str, Any]
                      ) -> Tuple['OrderedDict[str, Any]', List[str]]:
    """Return the flat state dict of a checkpoint and the dropped wrapper keys.

    Understands ``{'state_dict': ...}`` (mmcv / mmengine / Lightning),
    ``{'model': ...}`` (official VPD / Meta Prompts depth and refer) and flat
    state dicts; strips a ``module.`` prefix (DistributedDataParallel) when
    every key has it.

    Args:
        checkpoint (Mapping): What
            :func:`vpd.utils.checkpoint.load_checkpoint_file` returned.

    Returns:
        tuple: ``(state_dict, names of the other top-level entries)``.
    """
    if not isinstance(checkpoint, Mapping):
        raise ConversionError(
            f'A checkpoint must be a dict, got {type(checkpoint).__name__}')
    extra: List[str] = []
    state = checkpoint
    for wrapper in ('state_dict', 'model'):
        inner = checkpoint.get(wrapper)
        if isinstance(inner, Mapping) and any(
                isinstance(v, torch.Tensor) for v in inner.values()):
            state = inner
            extra = [k for k in checkpoint if k != wrapper]
            break
    state = OrderedDict(state)
    if state and all(k.startswith('module.') for k in state):
        state = OrderedDict((k[len('module.'):], v) for k, v in state.items())
    return state, extra


def detect_source(state: Mapping[str, Any]) -> str:
    """Tell the source format of a (flat or wrapped) checkpoint from its keys.

    Args:
        state (Mapping): The checkpoint or its state dict.

    Returns:
        str: A :data:`SOURCE_FORMATS` name.

    Raises:
        ConversionError: The layout is this project's own or unknown.
    """
    if 'state_dict' in state or 'model' in state:
        state, _ = unwrap_checkpoint(state)
    keys = list(state)

    def has(prefix: str) -> bool:
        return any(k == prefix or k.startswith(prefix) for k in keys)

    if has('backbone.unet.unet.diffusion_model.'):
        return 'mmseg-vpd-depth'
    if has('encoder.unet.unet.diffusion_model.'):
        if has('encoder.meta_prompts') or has('encoder.t1'):
            return 'metaprompts-depth'
        return 'vpd-depth'
    if has('unet.unet.diffusion_model.') or has('encoder_vq.'):
        if has('meta_prompts') or has('upconv1.'):
            return 'metaprompts-seg'
        if has('classifier.'):
            return 'vpd-refer'
        return 'vpd-seg'
    if has('backbone.unet.') and has('backbone.vae.'):
        raise ConversionError(
            'This checkpoint is already in this project\'s layout '
            '(backbone.unet.*, backbone.vae.*): load it directly (tools/'
            'test.py, vpd.apis.init_model) instead of converting it.')
    raise ConversionError(
        'Cannot tell the source format of this checkpoint: none of the known '
        'layouts matches (expected e.g. encoder.unet.unet.diffusion_model.* '
        '(VPD / Meta Prompts depth), unet.unet.diffusion_model.* (VPD / Meta '
        'Prompts seg) or backbone.unet.unet.diffusion_model.* (mmseg VPD)). '
        f'First keys: {_preview(sorted(keys), 8)}')


def resolve_source(source: Optional[str], state: Mapping[str, Any],
                   model: Optional[nn.Module] = None) -> SourceFormat:
    """Pick the :class:`SourceFormat` for ``source`` and a checkpoint.

    Args:
        source (str, optional): A format name, a family (``'vpd'``,
            ``'metaprompts'``, ``'mmseg'``; the task comes from the keys or
            the model) or None / ``'auto'`` (detected from the keys).
        state (Mapping): The checkpoint (wrapped or flat).
        model (nn.Module, optional): The target model, used to pick the task
            within a family when the keys do not tell.

    Returns:
        SourceFormat: The format.
    """
    if source in SOURCE_FORMATS:
        return SOURCE_FORMATS[source]
    if source not in (None, 'auto') and source not in FAMILIES:
        raise ValueError(
            f'Unknown source "{source}"; expected one of '
            f'{sorted(FAMILIES)}, {list(SOURCE_FORMATS)} or "auto"')
    detected = detect_source(state)
    fmt = SOURCE_FORMATS[detected]
    if source in FAMILIES and detected not in FAMILIES[source]:
        raise ConversionError(
            f'--source {source} was given, but the checkpoint keys look like '
            f'"{detected}" ({fmt.description}). Pass --source '
            f'{fmt.family} (or leave --source out to detect it).')
    del model  # the keys decide; the model is checked later
    return fmt


def _check_model(fmt: SourceFormat, model: nn.Module) -> None:
    if not fmt.supported:
        raise NotImplementedError(
            f'Source format "{fmt.name}" ({fmt.description}) is recognised '
            f'but not supported: {fmt.unsupported_reason}.')
    got = type(model).__name__
    cond = type(getattr(model, 'conditioner', None)).__name__
    backbone = getattr(model, 'backbone', None)
    folder = 'meta_prompts' if fmt.family == 'metaprompts' else 'vpd'
    if (got != fmt.model_type or cond != fmt.conditioner_type
            or not hasattr(backbone, 'unet') or not hasattr(backbone, 'vae')):
        raise ConversionError(
            f'Source format "{fmt.name}" ({fmt.description}) needs a config '
            f'that builds a {fmt.model_type} with a {fmt.conditioner_type} '
            f'and a StableDiffusionBackbone; this config builds a {got} with '
            f'a {cond}. Use a configs/{folder}/ {fmt.task} config.')


def _arch(model: nn.Module) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    backbone = model.backbone
    return dict(backbone.unet.config), dict(backbone.vae.config)


# ---------------------------------------------------------------------------
# official -> ours
# ---------------------------------------------------------------------------
def convert_checkpoint(checkpoint: Mapping[str, Any],
                       source: Optional[str],
                       model: nn.Module,
                       name: str = '<checkpoint>') -> ConversionResult:
    """Convert a released checkpoint to the layout of ``model``, strictly.

    Args:
        checkpoint (Mapping): The loaded file (wrapped or flat), e.g. from
            :func:`vpd.utils.checkpoint.load_checkpoint_file`.
        source (str, optional): Format name, family or None / ``'auto'``
            (see :func:`resolve_source`).
        model (nn.Module): The target model (built from the config with
            ``pretrained=None``); its UNet/VAE configs drive the ldm
            conversion and its ``state_dict()`` is the strictness reference.
        name (str): Shown in error messages (the file path).

    Returns:
        ConversionResult: The converted state dict (exactly the model's keys
        and shapes) and what was dropped.

    Raises:
        ConversionError: Keys are missing, unexpected or of the wrong shape;
            the message lists them.
        NotImplementedError: The format is recognised but unsupported.
    """
    state, extra = unwrap_checkpoint(checkpoint)
    fmt = resolve_source(source, state, model)
    _check_model(fmt, model)
    target = model.state_dict()
    unet_cfg, vae_cfg = _arch(model)

    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    origin: Dict[str, str] = {}  # our key -> source key
    dropped: Dict[str, List[str]] = OrderedDict()
    notes: List[str] = []
    unexpected: List[str] = []
    mismatched: List[str] = []
    ldm: Dict[str, Dict[str, Any]] = {}  # dst prefix -> {kind, keys}
    duplicates: Dict[str, List[Tuple[str, torch.Tensor]]] = OrderedDict()

    def drop(reason: str, key: str) -> None:
        dropped.setdefault(reason, []).append(key)

    if extra:
        dropped[_TRAINING_STATE] = list(extra)

    for key, val in state.items():
        m = _match(key, fmt.key_map)
        if m is None:
            unexpected.append(key)
            continue
        src, dst, rule, rest = m
        if rule == 'drop' or dst is None:
            drop(_DROP_REASONS.get(src, f'listed as unused in the '
                                   f'{fmt.name} table'), key)
            continue
        if not isinstance(val, torch.Tensor):
            unexpected.append(f'{key} (a {type(val).__name__}, not a tensor)')
            continue
        if rule in ('ldm-unet', 'ldm-vae'):
            group = ldm.setdefault(dst, dict(kind=rule, state={}, origin={}))
            prefix = LDM_UNET_PREFIX if rule == 'ldm-unet' else LDM_VAE_PREFIX
            group['state'][prefix + rest] = val
            group['origin'][rest] = key
        elif rule == 'duplicate':
            duplicates.setdefault(dst + rest, []).append((key, val))
        elif rule == 'mean-row':
            new = dst + rest
            want = target.get(new)
            if (want is not None and val.ndim == 2 and want.ndim == 2
                    and val.shape[0] == want.shape[0] + 1
                    and val.shape[1] == want.shape[1]):
                mean = val[:-1].mean(0)
                if not torch.allclose(val[-1], mean, rtol=1e-4,
                                      atol=1e-6 * float(mean.abs().max() + 1)):
                    raise ConversionError(
                        f'"{name}": {key} has {val.shape[0]} rows, one more '
                        f'than the model\'s {want.shape[0]} classes, but its '
                        'last row is not the mean of the others (mmseg\'s '
                        'class_embed_select layout); check num_classes of '
                        'the config.', mismatched=[key])
                val = val[:-1]
                notes.append(
                    f'{key}: dropped the appended mean row (mmseg '
                    f'class_embed_select); kept {want.shape[0]} class '
                    'embeddings, the mean is recomputed for images of no '
                    'known class')
            out[new] = val
            origin[new] = key
        else:  # same
            out[dst + rest] = val
            origin[dst + rest] = key

    for dst, group in ldm.items():
        _convert_ldm_group(dst, group, unet_cfg, vae_cfg, target, out, origin,
                           drop, unexpected)

    for new, copies in duplicates.items():
        reference = out.get(new)
        ref_name = origin.get(new)
        if reference is None:
            ref_name, reference = copies[0]
        differing = [k for k, v in copies
                     if v.shape != reference.shape or not torch.equal(
                         v, reference)]
        if differing:
            raise ConversionError(
                f'"{name}": {_preview(differing)} should be the same tensor '
                f'as {ref_name} (the reference stores the UNet output conv '
                'under several names), but they differ. The file is not a '
                f'{fmt.name} checkpoint as released.', unexpected=differing)
        if new in target:
            out.setdefault(new, reference)
            origin.setdefault(new, ref_name)
            for k, _ in copies:
                if k != ref_name:
                    drop(_DUPLICATE, k)
        else:
            for k, _ in copies:
                drop(_UNET_OUT, k)

    # Shapes and coverage.
    for key in list(out):
        if key not in target:
            unexpected.append(f'{origin.get(key, key)} (-> {key})')
            del out[key]
            continue
        if tuple(out[key].shape) != tuple(target[key].shape):
            mismatched.append(
                f'{key}: checkpoint {tuple(out[key].shape)} (from '
                f'{origin.get(key, key)}), model {tuple(target[key].shape)}')
    missing = [k for k in target if k not in out]
    bn_counters = [k for k in missing if k.endswith('num_batches_tracked')]
    if bn_counters:
        for k in bn_counters:
            out[k] = torch.zeros_like(target[k])
        notes.append(f'{len(bn_counters)} BatchNorm num_batches_tracked '
                     'counters were absent (older torch); set to 0')
        missing = [k for k in missing if k not in bn_counters]
    if missing or unexpected or mismatched:
        raise _strict_error(name, fmt, missing, unexpected, mismatched)

    ordered = OrderedDict((k, out[k]) for k in target)
    return ConversionResult(state_dict=ordered, source=fmt.name,
                            dropped=dict(dropped), notes=notes)


def _convert_ldm_group(dst: str, group: Dict[str, Any],
                       unet_cfg: Dict[str, Any], vae_cfg: Dict[str, Any],
                       target: Mapping[str, torch.Tensor],
                       out: Dict[str, torch.Tensor], origin: Dict[str, str],
                       drop, unexpected: List[str]) -> None:
    """Rename one ldm UNet or VAE with diffusers' functions, check coverage."""
    kind = group['kind']
    if kind == 'ldm-unet':
        converted, _ = convert_ldm_to_diffusers(group['state'], unet_cfg,
                                                vae_cfg)
        back = unet_state_dict_to_ldm(converted, unet_cfg)
    else:
        _, converted = convert_ldm_to_diffusers(group['state'], unet_cfg,
                                                vae_cfg)
        back = vae_state_dict_to_ldm(converted, vae_cfg)
    # diffusers' functions silently skip keys they do not know: every ldm
    # key must come back from the inverse mapping, or it was not used.
    if len(back) != len(converted):  # pragma: no cover - 1:1 mappings
        raise ConversionError('ldm <-> diffusers renaming is not one to one')
    back_names = dict(zip(back, converted))  # ldm name -> diffusers name
    for ldm_key, src_key in group['origin'].items():
        if ldm_key not in back_names:
            unexpected.append(f'{src_key} (not an ldm '
                              f'{"UNet" if kind == "ldm-unet" else "VAE"} '
                              'key of this architecture)')
    for ldm_key, new in back_names.items():
        src_key = group['origin'].get(ldm_key, ldm_key)
        full = dst + new
        if full in target:
            out[full] = converted[new]
            origin[full] = src_key
        elif kind == 'ldm-unet' and new.startswith(('conv_norm_out.',
                                                    'conv_out.')):
            drop(_UNET_OUT, src_key)
        elif kind == 'ldm-unet' and new.startswith('time_embedding.'):
            drop(_UNET_TIME, src_key)
        elif kind == 'ldm-vae' and new.startswith(('decoder.',
                                                   'post_quant_conv.')):
            drop(_VAE_DECODER, src_key)
        else:
            out[full] = converted[new]
            origin[full] = src_key


def _strict_error(name: str, fmt: SourceFormat, missing: Sequence[str],
                  unexpected: Sequence[str],
                  mismatched: Sequence[str]) -> ConversionError:
    lines = [f'Cannot convert "{name}" ({fmt.name}: {fmt.description}) '
             'into the model built by the config:']
    if missing:
        lines.append(f'  {len(missing)} missing keys (the model needs them, '
                     f'the checkpoint does not provide them): '
                     f'{_preview(missing, 20)}')
    if unexpected:
        lines.append(f'  {len(unexpected)} unexpected keys (in the '
                     'checkpoint, not used by the model and not on the drop '
                     f'list): {_preview(unexpected, 20)}')
    if mismatched:
        lines.append(f'  {len(mismatched)} shape mismatches: '
                     f'{_preview(mismatched, 10)}')
    lines.append(
        '  Check that the config matches the checkpoint: the UNet/VAE '
        'architecture (sd15 vs a reduced preset, use --cfg-options '
        'model.backbone.unet=...), the number of classes / prompts / '
        'refinement loops and the neck/head widths.')
    return ConversionError('\n'.join(lines), missing=missing,
                           unexpected=unexpected, mismatched=mismatched)


def load_converted(model: nn.Module, result: ConversionResult) -> None:
    """Strictly load a :class:`ConversionResult` into ``model``.

    Args:
        model (nn.Module): The model the result was converted for.
        result (ConversionResult): From :func:`convert_checkpoint`.
    """
    model.load_state_dict(result.state_dict, strict=True)


# ---------------------------------------------------------------------------
# ours -> official
# ---------------------------------------------------------------------------
def _reverse_match(key: str, table: KeyMap
                   ) -> Optional[Tuple[str, str, str, str]]:
    """Longest our-prefix entry matching ``key`` (rules same / mean-row)."""
    best = None
    for src, dst, rule in table:
        if dst is None or rule not in ('same', 'mean-row'):
            continue
        if key == dst or (dst.endswith('.') and key.startswith(dst)):
            if best is None or len(dst) > len(best[1]):
                best = (src, dst, rule, key[len(dst):])
    return best


def _loop_of(prefix: str) -> Optional[int]:
    m = re.search(r'cross_unet_conv(\d+)\.', prefix)
    return int(m.group(1)) if m else None


def to_official(model: nn.Module,
                source: str,
                include_unused: bool = True,
                wrap: bool = True) -> Dict[str, Any]:
    """Write a model's weights in a released checkpoint layout.

    The inverse of :func:`convert_checkpoint` (round trips, and running a
    model trained here in the reference code). UNet/VAE keys are renamed to
    ldm names with
    :func:`~vpd.models.backbones.sd_weights.unet_state_dict_to_ldm` /
    :func:`~vpd.models.backbones.sd_weights.vae_state_dict_to_ldm`.

    Args:
        model (nn.Module): A model of the kind the format describes.
        source (str): A :data:`SOURCE_FORMATS` name.
        include_unused (bool): Also write the tensors the reference model
            holds but this project never builds, so the file has the
            reference's exact key set: ``post_quant_conv`` (identity), the
            VAE decoder (mmseg; random, from the VAE config), the UNet's
            ``out`` when the model has no output conv (VPD seg, mmseg; zeros),
            ``time_embed`` (Meta Prompts seg; zeros), and mmseg's appended
            mean class embedding. The ldm noise-schedule buffers of the
            segmentation models (``sd_model.*``) are not written: the
            reference rebuilds them and loads with ``strict=False``.
            Defaults to True.
        wrap (bool): Wrap as the reference saves (``{'model': sd}`` or
            ``{'meta': {...}, 'state_dict': sd}``). Defaults to True.

    Returns:
        dict: The checkpoint (or the flat state dict when ``wrap=False``).
    """
    if source not in SOURCE_FORMATS:
        raise ValueError(f'Unknown source format "{source}"; expected one of '
                         f'{list(SOURCE_FORMATS)}')
    fmt = SOURCE_FORMATS[source]
    _check_model(fmt, model)
    unet_cfg, vae_cfg = _arch(model)
    ours = model.state_dict()
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    used = set()
    num_loops = int(getattr(model.backbone, 'num_loops', 1))

    for src, dst, rule in fmt.key_map:
        if rule not in ('ldm-unet', 'ldm-vae', 'duplicate'):
            continue
        part = {k[len(dst):]: v for k, v in ours.items() if k.startswith(dst)}
        if rule == 'duplicate':
            loop = _loop_of(src)
            if loop is not None and loop > num_loops:
                continue
            for rest, v in part.items():
                out[src + rest] = v.clone()
                used.add(dst + rest)
            continue
        if rule == 'ldm-unet':
            ldm_sd = unet_state_dict_to_ldm(part, unet_cfg)
            if include_unused:
                ldm_sd.update(_unused_unet(fmt, unet_cfg, ldm_sd))
        else:
            ldm_sd = vae_state_dict_to_ldm(part, vae_cfg)
            if include_unused:
                ldm_sd.update(_unused_vae(fmt, vae_cfg))
        for k, v in ldm_sd.items():
            out[src + k] = v
        used.update(dst + k for k in part)

    for key, val in ours.items():
        if key in used:
            continue
        m = _reverse_match(key, fmt.key_map)
        if m is None:
            raise ConversionError(
                f'to_official("{source}"): no official name for model key '
                f'"{key}"; the {fmt.name} table does not cover it (is the '
                'model of the kind this format describes?)')
        src, dst, rule, rest = m
        if rule == 'mean-row' and include_unused:
            val = torch.cat([val, val.mean(0, keepdim=True)], dim=0)
        out[src + rest] = val
    if not wrap:
        return out
    if fmt.wrapper == 'model':
        return {'model': out}
    return {'meta': {'written_by': 'vpd.models.converters.to_official',
                     'source_format': fmt.name},
            'state_dict': out}


def _unused_unet(fmt: SourceFormat, cfg: Dict[str, Any],
                 present: Mapping[str, torch.Tensor]
                 ) -> Dict[str, torch.Tensor]:
    """ldm UNet tensors the reference keeps but this model does not build."""
    extra = {}
    c0 = cfg['block_out_channels'][0]
    if fmt.unet_out and 'out.2.weight' not in present:
        extra['out.0.weight'] = torch.ones(c0)
        extra['out.0.bias'] = torch.zeros(c0)
        extra['out.2.weight'] = torch.zeros(cfg['out_channels'], c0, 3, 3)
        extra['out.2.bias'] = torch.zeros(cfg['out_channels'])
    if fmt.unet_time_embed and 'time_embed.0.weight' not in present:
        d = 4 * c0
        extra['time_embed.0.weight'] = torch.zeros(d, c0)
        extra['time_embed.0.bias'] = torch.zeros(d)
        extra['time_embed.2.weight'] = torch.zeros(d, d)
        extra['time_embed.2.bias'] = torch.zeros(d)
    return extra


def _unused_vae(fmt: SourceFormat, cfg: Dict[str, Any]
                ) -> Dict[str, torch.Tensor]:
    """ldm VAE tensors the reference keeps but this model does not build."""
    z = cfg['latent_channels']
    extra = {
        'post_quant_conv.weight': torch.eye(z).reshape(z, z, 1, 1),
        'post_quant_conv.bias': torch.zeros(z)
    }
    if fmt.vae_decoder:
        from diffusers.models.autoencoders.vae import Decoder
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        try:
            decoder = Decoder(
                in_channels=z,
                out_channels=cfg['out_channels'],
                up_block_types=tuple(cfg['up_block_types']),
                block_out_channels=tuple(cfg['block_out_channels']),
                layers_per_block=cfg['layers_per_block'],
                norm_num_groups=cfg['norm_num_groups'],
                act_fn=cfg['act_fn'],
                mid_block_add_attention=cfg.get('mid_block_add_attention',
                                                True))
        finally:
            torch.random.set_rng_state(gen_state)
        dec = {f'decoder.{k}': v for k, v in decoder.state_dict().items()}
        extra.update(vae_state_dict_to_ldm(dec, cfg))
    return extra
