"""Referring image segmentation with a diffusion backbone (VPD refer)."""
from typing import Optional, Tuple

from mmengine.structures import PixelData
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from vpd.registry import MODELS
from .diffusion_segmentor import DiffusionSegmentor

#: How the official VPD referring-segmentation checkpoint (``wl-zhao/VPD``
#: ``refer/models_refer/model.py`` ``VPDRefer``; file ``{'model': state_dict,
#: 'optimizer', 'epoch', 'args', 'lr_scheduler'}`` from ``refer/train.py``)
#: maps onto :class:`ReferringSegmentor` built from
#: ``configs/_base_/models/vpd_refer_sd15.py``, in the format of
#: ``OFFICIAL_VPD_SEG_KEY_MAP``: ``(official prefix, our prefix, rule)``,
#: first match wins.
#:
#: * ``encoder_vq.*``: the ldm ``AutoencoderKL`` (decoder deleted by the
#:   reference); ``post_quant_conv`` is dropped (we only encode).
#: * ``unet.unet.diffusion_model.*``: the ldm UNet, renamed to diffusers
#:   names; ``out.*`` (output conv, never run) is dropped.
#: * ``gamma`` / ``text_adapter.fc.*`` (``TextAdapterRefer``): the
#:   :class:`~vpd.models.conditioners.SentenceConditioner`'s blend vector
#:   and adapter.
#: * ``classifier.*`` (``SimpleDecoding``): the
#:   :class:`~vpd.models.heads.SimpleDecodingHead`, same layer names, except
#:   its final 1x1 conv ``conv1_1`` = mmseg's ``conv_seg``.
#:
#: The CLIP text model is not in the file (nor in ours).
OFFICIAL_VPD_REFER_KEY_MAP: Tuple[Tuple[str, Optional[str], str], ...] = (
    ('encoder_vq.', 'backbone.vae.', 'ldm-vae'),
    ('unet.unet.diffusion_model.', 'backbone.unet.', 'ldm-unet'),
    ('gamma', 'conditioner.gamma', 'same'),
    ('text_adapter.', 'conditioner.text_adapter.', 'same'),
    ('classifier.conv1_1.', 'decode_head.conv_seg.', 'same'),
    ('classifier.', 'decode_head.', 'same'),
)


@MODELS.register_module()
class ReferringSegmentor(DiffusionSegmentor):
    """:class:`DiffusionSegmentor` for one sentence per image.

    The conditioner (:class:`~vpd.models.conditioners.SentenceConditioner`)
    reads each sample's sentence from ``metainfo['text']``; everything else
    (loss, whole / slide inference) is mmseg's. Besides mmseg's outputs
    (``seg_logits`` and ``pred_sem_seg`` resized to the original image),
    :meth:`predict` stores ``pred_sem_seg_input``: the prediction at the
    network input size (padding removed, before resizing back), which the
    official protocol evaluates (``refer/test.py``: IoU on the 512x512
    resized image; see :class:`~vpd.evaluation.ReferringMetric`).

    Widths are derived as in :class:`DiffusionSegmentor`: the
    conditioner's ``embed_dim`` from the UNet's cross-attention width, the
    decoder's ``in_channels`` from the backbone's ``out_channels``, which
    include the ``K`` cross-attention map channels at strides 16 and 32;
    here ``K`` is the sentence length in tokens, so the conditioner's
    ``token_length`` must equal ``backbone.attn_maps.num_tokens`` (checked).

    For :class:`~vpd.engine.hooks.EmptyTargetHook`, the valid target pixels
    of a training batch are its object pixels (label 1): a batch whose
    masks are all background (an object outside the image, a broken
    polygon) teaches the model to predict nothing.

    Arguments as :class:`DiffusionSegmentor`; the conditioner must declare
    ``needs_text = True``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not getattr(self.conditioner, 'needs_text', False):
            raise TypeError(
                f'ReferringSegmentor needs a sentence conditioner (e.g. '
                f'SentenceConditioner), got '
                f'{type(self.conditioner).__name__}')

    def target_report(self, data_samples: SampleList,
                      num_valid: int) -> dict:
        """Object pixels of the batch, with the images and refs named."""
        count = 0
        for sample in data_samples:
            if 'gt_sem_seg' in sample:
                count += int((sample.gt_sem_seg.data == 1).sum())
        files = []
        for sample in data_samples[:2]:
            meta = sample.metainfo
            files.append(f'{meta.get("img_path", "?")} (ref '
                         f'{meta.get("ref_id", "?")}, "'
                         f'{str(meta.get("text", ""))[:40]}")')
        return dict(count=count,
                    valid_range='label 1 (the referred object)',
                    files=files)

    def postprocess_result(self,
                           seg_logits: Tensor,
                           data_samples: OptSampleList = None) -> SampleList:
        """mmseg's results plus ``pred_sem_seg_input`` (see the class)."""
        results = super().postprocess_result(seg_logits, data_samples)
        if data_samples is None:
            return results
        height, width = seg_logits.shape[-2:]
        for i, sample in enumerate(results):
            meta = sample.metainfo
            pad = meta.get('img_padding_size',
                           meta.get('padding_size', [0, 0, 0, 0]))
            left, right, top, bottom = pad
            logits = seg_logits[i, :, top:height - bottom,
                                left:width - right]
            pred = logits.argmax(dim=0, keepdim=True)
            sample.set_data(dict(pred_sem_seg_input=PixelData(data=pred)))
        return results
