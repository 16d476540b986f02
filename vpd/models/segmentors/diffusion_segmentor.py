"""Semantic segmentation with a diffusion backbone (VPD, Meta Prompts).

:class:`DiffusionSegmentor` is mmseg's :class:`EncoderDecoder` with one more
sub-module, the ``conditioner``, whose output conditions the UNet. Only the
feature extraction changes; losses, whole/slide inference, test-time
augmentation (mmseg ``SegTTAModel``) and post-processing are mmseg's.
"""
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmseg.models.segmentors import BaseSegmentor, EncoderDecoder
from mmseg.structures import SegDataSample
from mmseg.utils import (ConfigType, OptConfigType, OptMultiConfig,
                         OptSampleList, SampleList)
from torch import Tensor

from vpd.models.backbones.derived_widths import (derive_conditioner_cfg,
                                                 derive_head_cfg,
                                                 derive_neck_cfg,
                                                 neck_output_channels)
from vpd.registry import MODELS

#: How the official VPD segmentation checkpoint (``wl-zhao/VPD``,
#: ``segmentation/models/vpd_seg.py``; mmcv format ``{meta, state_dict,
#: optimizer}``) maps onto :class:`DiffusionSegmentor` built from
#: ``configs/_base_/models/vpd_seg_sd15.py``, one prefix to one prefix.
#: ``(official prefix, our prefix, what happens to the rest of the key)``:
#:
#: * ``'ldm-unet'``: the remainder is an ldm ``UNetModel`` key
#:   (``input_blocks.*``, ``middle_block.*``, ``output_blocks.*``,
#:   ``time_embed.*``) and is renamed to diffusers ``UNet2DConditionModel``
#:   names with :func:`vpd.models.backbones.sd_weights.convert_ldm_to_diffusers`
#:   (prefix ``model.diffusion_model.``). ldm's ``out.*`` (the output conv)
#:   is present in the official file but not built by VPD (dropped).
#: * ``'ldm-vae'``: the remainder is an ldm ``AutoencoderKL`` key
#:   (``encoder.*``, ``quant_conv.*``); renamed likewise (prefix
#:   ``first_stage_model.``). ``post_quant_conv.*`` is dropped (the decoder
#:   is not kept).
#: * ``'same'``: copied unchanged.
#: * ``None`` as our prefix: dropped (``sd_model.*`` holds the DDPM noise
#:   schedule buffers, ``betas``, ``alphas_cumprod``, ..., unused).
OFFICIAL_VPD_SEG_KEY_MAP: Tuple[Tuple[str, Optional[str], str], ...] = (
    ('encoder_vq.', 'backbone.vae.', 'ldm-vae'),
    ('unet.unet.diffusion_model.', 'backbone.unet.', 'ldm-unet'),
    ('class_embeddings', 'conditioner.class_embeddings', 'same'),
    ('gamma', 'conditioner.gamma', 'same'),
    ('text_adapter.', 'conditioner.text_adapter.', 'same'),
    ('neck.', 'neck.', 'same'),
    ('decode_head.', 'decode_head.', 'same'),
    ('sd_model.', None, 'drop'),
)


@MODELS.register_module()
class DiffusionSegmentor(EncoderDecoder):
    """Encoder-decoder segmentor whose backbone is conditioned.

    ``inputs -> conditioner(B, data_samples) -> backbone(inputs, context,
    time_embeds) -> neck -> decode_head``, the rest as mmseg's
    :class:`EncoderDecoder` (``loss``, ``predict`` with ``test_cfg.mode``
    ``'whole'`` or ``'slide'``, ``_forward``).

    The conditioner returns a dict with ``context`` (a tensor ``[B, N, C]``
    or, for a recurrent backbone, one per loop) and optionally
    ``time_embeds`` (tensor or list) and ``prompts``. A neck with the
    attribute ``uses_prompts = True`` (Meta Prompts) is called as
    ``neck(feats, prompts)``; any other neck as ``neck(feats)``.

    Widths that follow from the backbone are derived when the model is
    built (:mod:`vpd.models.backbones.derived_widths`): the conditioner's
    ``embed_dim`` (and Meta Prompts' ``time_embed_dim``), the neck's
    ``in_channels`` (``backbone.out_channels``, which includes the ``K``
    cross-attention channels added at the 1/16 and 1/32 levels) and prompt
    width, and the heads' ``in_channels`` (the neck's outputs). A config
    that gives one of them explicitly with another value is refused with
    both keys and values named; with attention maps on, the conditioner
    must give ``K`` tokens. The parts are built in mmseg's order
    (backbone, neck, decode head, auxiliary head), then the conditioner.

    Ground-truth labels are checked in training (``loss``) and at test time
    (``predict``, when the samples carry ``gt_sem_seg``): a label outside
    ``0 .. num_classes - 1`` that is not the decode head's ``ignore_index``
    raises a ``ValueError`` naming the annotation file, the value and the
    class count (mmseg would crash in the loss without naming the file, and
    silently skew ``IoUMetric`` at test time). In training, the number of
    valid (non-ignored) label pixels of each batch goes to the MessageHub
    for :class:`vpd.engine.hooks.EmptyTargetHook`.

    Args:
        backbone (dict): :class:`StableDiffusionBackbone` config.
        conditioner (dict): Conditioner config, e.g.
            :class:`ClassEmbeddingConditioner` (VPD).
        decode_head (dict): mmseg decode head config.
        neck (dict, optional): Neck config (VPD: mmseg ``FPN``).
        auxiliary_head (dict | list, optional): Auxiliary head(s).
        train_cfg (dict, optional): Training config.
        test_cfg (dict, optional): ``mode='whole'`` or ``'slide'`` with
            ``crop_size`` and ``stride``.
        data_preprocessor (dict, optional): mmseg ``SegDataPreProcessor``
            (VPD: mean = std = 127.5, i.e. images in [-1, 1]).
        pretrained (str, optional): Stable Diffusion weights, passed to the
            backbone's ``pretrained``.
        init_cfg (dict, optional): mmengine init config.

    See :data:`OFFICIAL_VPD_SEG_KEY_MAP` for the mapping of the official
    VPD segmentation checkpoint onto this model.
    """

    def __init__(self,
                 backbone: ConfigType,
                 conditioner: ConfigType,
                 decode_head: ConfigType,
                 neck: OptConfigType = None,
                 auxiliary_head: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None) -> None:
        # mmseg's EncoderDecoder.__init__, with the widths that follow from
        # the backbone derived between building the backbone and the rest.
        BaseSegmentor.__init__(
            self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if pretrained is not None:
            if backbone.get('pretrained') is not None:
                raise ValueError('Both the segmentor and its backbone set '
                                 'pretrained weights; set one of them')
            backbone = dict(backbone, pretrained=pretrained)
        self.backbone = MODELS.build(backbone)
        conditioner = derive_conditioner_cfg(conditioner, self.backbone)
        widths = getattr(self.backbone, 'out_channels', None)
        source = 'model.backbone out_channels'
        if neck is not None:
            self.neck = MODELS.build(
                derive_neck_cfg(neck, self.backbone, conditioner))
            widths = neck_output_channels(self.neck, conditioner)
            source = 'the outputs of model.neck'
        self._init_decode_head(derive_head_cfg(
            decode_head, widths, 'model.decode_head', source))
        if isinstance(auxiliary_head, (list, tuple)):
            auxiliary_head = [
                derive_head_cfg(h, widths, f'model.auxiliary_head[{i}]',
                                source)
                for i, h in enumerate(auxiliary_head)
            ]
        elif auxiliary_head is not None:
            auxiliary_head = derive_head_cfg(
                auxiliary_head, widths, 'model.auxiliary_head', source)
        self._init_auxiliary_head(auxiliary_head)
        # mmseg reads test_cfg.mode etc. as attributes
        self.train_cfg = (ConfigDict(train_cfg)
                          if isinstance(train_cfg, dict) else train_cfg)
        self.test_cfg = (ConfigDict(test_cfg)
                         if isinstance(test_cfg, dict) else test_cfg)
        self.conditioner = MODELS.build(conditioner)
        self._check_channels()

    # ------------------------------------------------------------------
    def _check_channels(self) -> None:
        """Raise a clear error when channel bookkeeping is inconsistent."""
        out = getattr(self.backbone, 'out_channels', None)
        if out is None:
            return
        out = [int(c) for c in out]
        attn_cfg = getattr(self.backbone, 'attn_cfg', None)
        hint = ''
        if attn_cfg:
            k = int(attn_cfg['num_tokens'])
            hint = (f' The backbone concatenates K={k} cross-attention maps '
                    f'onto latent levels {list(attn_cfg["levels"])}; derive '
                    'the neck in_channels from the same K (e.g. [320, '
                    '640 + K, 1280 + K, 1280] for SD1.5).')
            tokens = getattr(self.conditioner, 'num_tokens', None)
            if tokens is not None and int(tokens) != k:
                raise ValueError(
                    f'The conditioner gives {tokens} context tokens but the '
                    f'backbone attn_maps expects num_tokens={k}: set both '
                    'from the number of classes.')
        if self.with_neck:
            expected = getattr(self.neck, 'in_channels', None)
            if expected is None:
                return
            expected = ([int(c) for c in expected] if isinstance(
                expected, Sequence) else [int(expected)])
            if expected != out:
                raise ValueError(
                    f'neck in_channels {expected} do not match the backbone '
                    f'out_channels {out}.{hint}')
            return
        head = self.decode_head
        in_index = head.in_index
        if head.input_transform == 'resize_concat':
            want = sum(out[i] for i in in_index)
            got = int(head.in_channels)
        elif head.input_transform == 'multiple_select':
            want = [out[i] for i in in_index]
            got = [int(c) for c in head.in_channels]
        else:
            want = out[in_index]
            got = int(head.in_channels)
        if want != got:
            raise ValueError(
                f'decode_head in_channels {got} do not match the backbone '
                f'out_channels {out} (in_index {in_index}).{hint}')

    @staticmethod
    def _samples_from_metas(batch_img_metas: Optional[List[dict]]
                            ) -> Optional[SampleList]:
        if batch_img_metas is None:
            return None
        return [SegDataSample(metainfo=dict(m)) for m in batch_img_metas]

    def condition(self, batch_size: int,
                  data_samples: OptSampleList = None) -> Dict:
        """The conditioner's output for a batch (``context``, ...)."""
        cond = self.conditioner(batch_size, data_samples)
        if 'context' not in cond:
            raise KeyError('The conditioner must return a dict with '
                           '"context"')
        return cond

    def extract_feat(self,
                     inputs: Tensor,
                     data_samples: OptSampleList = None) -> List[Tensor]:
        """Conditioned backbone features, through the neck if any.

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` normalised images.
            data_samples (list[SegDataSample], optional): Samples of the
                batch, passed to the conditioner.

        Returns:
            list[Tensor]: Multi-level features.
        """
        cond = self.condition(inputs.shape[0], data_samples)
        x = self.backbone(inputs, cond['context'], cond.get('time_embeds'))
        if self.with_neck:
            if getattr(self.neck, 'uses_prompts', False):
                x = self.neck(x, cond['prompts'])
            else:
                x = self.neck(x)
        return x

    # The three mmseg entry points that call extract_feat, now passing the
    # samples (or, at inference, the image metas) on to the conditioner.
    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Segmentation logits of a batch (or a slide-inference crop)."""
        x = self.extract_feat(inputs,
                              self._samples_from_metas(batch_img_metas))
        return self.decode_head.predict(x, batch_img_metas, self.test_cfg)

    def check_labels(self, data_samples: OptSampleList) -> int:
        """Raise on ground-truth labels outside the classes; count valid ones.

        Args:
            data_samples (list[SegDataSample], optional): Samples, with
                ``gt_sem_seg`` where ground truth was loaded.

        Returns:
            int: Number of label pixels that are not ``ignore_index``.

        Raises:
            ValueError: A label is neither a class id nor ``ignore_index``;
                the message names the annotation file (``seg_map_path``),
                the value as stored in the file and the class count.
        """
        num_classes = int(self.decode_head.num_classes)
        ignore_index = int(self.decode_head.ignore_index)
        valid = 0
        for sample in data_samples or []:
            if 'gt_sem_seg' not in sample:
                continue
            labels = sample.gt_sem_seg.data
            keep = labels != ignore_index
            bad = keep & ((labels < 0) | (labels >= num_classes))
            if bool(bad.any()):
                values = sorted({int(v) for v in labels[bad].unique()[:5]})
                meta = sample.metainfo
                path = meta.get('seg_map_path') or meta.get(
                    'img_path', '<unknown annotation file>')
                shift = ''
                if meta.get('reduce_zero_label'):
                    shift = (' (after reduce_zero_label; the file stores '
                             f'{", ".join(str(v + 1) for v in values)})')
                raise ValueError(
                    f'Annotation "{path}" has label value(s) '
                    f'{", ".join(map(str, values))}{shift}, outside the '
                    f'{num_classes} classes 0..{num_classes - 1} and not '
                    f'ignore_index {ignore_index}. Check num_classes, '
                    'reduce_zero_label and the annotation files.')
            valid += int(keep.sum())
        return valid

    def predict(self, inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """mmseg's ``predict`` after :meth:`check_labels` (test time)."""
        self.check_labels(data_samples)
        return super().predict(inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of the decode (and auxiliary) heads."""
        num_valid = self.check_labels(data_samples)
        ignore_index = int(self.decode_head.ignore_index)
        MessageHub.get_current_instance().update_info(
            'train_valid_targets',
            dict(count=num_valid,
                 valid_range=(f'a label in 0..'
                              f'{int(self.decode_head.num_classes) - 1}, '
                              f'not ignore_index {ignore_index}'),
                 files=[s.metainfo.get('seg_map_path', '?')
                        for s in data_samples[:2]]))
        x = self.extract_feat(inputs, data_samples)
        losses = dict()
        losses.update(self._decode_head_forward_train(x, data_samples))
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    def postprocess_result(self, seg_logits: Tensor,
                           data_samples: OptSampleList = None) -> SampleList:
        """mmseg's post-processing on float32 logits (the logits of a
        model run under bf16 / fp16 autocast are cast first)."""
        return super().postprocess_result(seg_logits.float(), data_samples)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """Raw decode-head output (``mode='tensor'``)."""
        return self.decode_head.forward(self.extract_feat(inputs, data_samples))


def map_official_key(key: str) -> Optional[Tuple[str, str]]:
    """Where an official VPD seg checkpoint key goes.

    Args:
        key (str): Key of the official ``state_dict``.

    Returns:
        tuple | None: ``(our key or prefix-renamed key, rule)`` where rule is
        one of ``'same'``, ``'ldm-unet'``, ``'ldm-vae'`` (the remainder still
        needs ldm -> diffusers renaming) or ``'drop'``; None if no prefix of
        :data:`OFFICIAL_VPD_SEG_KEY_MAP` matches.
    """
    for src, dst, rule in OFFICIAL_VPD_SEG_KEY_MAP:
        if key == src or (src.endswith('.') and key.startswith(src)):
            if dst is None:
                return '', 'drop'
            return dst + key[len(src):], rule
    return None

