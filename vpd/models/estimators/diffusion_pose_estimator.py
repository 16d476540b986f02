"""Top-down human pose estimation with a diffusion backbone (Meta Prompts)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement, InstanceData, PixelData

from vpd.models.backbones.derived_widths import (derive_conditioner_cfg,
                                                 derive_head_cfg,
                                                 derive_neck_cfg,
                                                 neck_output_channels)
from vpd.registry import MODELS, TASK_UTILS

SampleList = Optional[List[BaseDataElement]]

#: COCO's left/right partners, used when the data samples carry none.
DEFAULT_FLIP_INDICES = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16,
                        15)


@MODELS.register_module()
class DiffusionPoseEstimator(BaseModel):
    """Person crop -> VAE latent -> conditioned UNet -> neck -> heatmaps.

    The top-down design of ViTPose / Simple Baselines with the Meta Prompts
    backbone in place of the ViT: a person crop (``codec.input_size``, e.g.
    192x256), optionally resized to ``vae_input_size`` (e.g. 384x512: SD
    was trained on 64x64 latents) and zero-padded symmetrically to a
    multiple of the backbone's ``pad_to``, goes through the frozen VAE and
    the UNet with meta prompts and recurrent refinement
    (:class:`StableDiffusionBackbone` + :class:`MetaPromptConditioner`);
    the neck (``MetaPromptDepthNeck``: all levels fused at stride 8 and
    re-arranged into N prompt maps) feeds :class:`TopdownHeatmapHead`
    (one deconvolution: stride 4) and :class:`KeypointMSELoss`. The padding
    is cut off the neck output; if that does not have the size the head
    needs for ``codec.heatmap_size`` (e.g. with ``vae_input_size``) it is
    resized bilinearly; with a 2x ``vae_input_size`` set the head's
    ``deconv_out_channels=()`` instead, the stride-8 map of the upscaled
    crop is then already the heatmap size.

    Test time (``test_cfg``): ``flip_test`` (default True) runs each crop
    and its mirror image as ONE batch through the backbone (one UNet call
    per refinement loop), flips the second half of the heatmaps back
    (``codec.flip_back``: mirror, swap left/right by ``flip_indices``, and a
    one-pixel shift for MSRA; ``shift_heatmap`` overrides it) and averages;
    the codec decodes the keypoints in crop pixels, which the inverse of the
    sample's ``warp_mat`` maps back to image pixels.

    Data samples: :class:`mmengine.structures.BaseDataElement` made by
    ``PackPoseInputs`` (``gt_fields.heatmaps``,
    ``gt_instance_labels.keypoint_weights``, metainfo ``warp_mat``,
    ``flip_indices`` ...). :meth:`predict` adds ``pred_instances`` with
    ``keypoints`` ``[1, K, 2]`` (image pixels), ``keypoint_scores``
    ``[1, K]``, ``bboxes`` and ``bbox_scores`` (from the input box), and,
    with ``test_cfg.output_heatmaps``, ``pred_fields.heatmaps``.

    mmpose's ``TopdownPoseEstimator`` (the model this replaces) is not used:
    mmpose is not a dependency of this project (README, Installation notes).

    Args:
        backbone (dict): :class:`StableDiffusionBackbone` config.
        conditioner (dict): Conditioner config (``MetaPromptConditioner``).
        neck (dict): Neck config; called as ``neck(feats, prompts)`` when it
            has ``uses_prompts``. It returns a map (or a list whose first,
            finest entry is used).
        head (dict): :class:`TopdownHeatmapHead` config.
        codec (dict): ``UDPHeatmap`` / ``MSRAHeatmap`` config (the same as
            the pipeline's ``GenerateHeatmapTarget``).
        loss (dict): Loss config. Defaults to
            ``KeypointMSELoss(use_target_weight=True)``.
        vae_input_size (Sequence[int], optional): ``(w, h)`` the crop is
            resized to before the VAE. Defaults to None (the crop as is).
        test_cfg (dict, optional): ``flip_test`` (bool, default True),
            ``shift_heatmap`` (bool, default: the codec's),
            ``output_heatmaps`` (bool, default False).
        data_preprocessor (dict, optional): e.g. mmengine's
            ``ImgDataPreprocessor`` with mean = std = 127.5 (images in
            [-1, 1], as the SD VAE expects) and ``bgr_to_rgb=True``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 conditioner: dict,
                 neck: dict,
                 head: dict,
                 codec: dict,
                 loss: dict = dict(type='KeypointMSELoss',
                                   use_target_weight=True),
                 vae_input_size: Optional[Sequence[int]] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        # widths that follow from the backbone are derived (or checked)
        conditioner = derive_conditioner_cfg(conditioner, self.backbone)
        self.conditioner = MODELS.build(conditioner)
        self.neck = MODELS.build(
            derive_neck_cfg(neck, self.backbone, conditioner))
        self.head = MODELS.build(derive_head_cfg(
            head, neck_output_channels(self.neck, conditioner), 'model.head',
            'the output of model.neck'))
        self.loss_module = MODELS.build(loss)
        self.codec = TASK_UTILS.build(codec)
        self.test_cfg = dict(test_cfg or {})
        self.vae_input_size = (None if vae_input_size is None else tuple(
            int(v) for v in vae_input_size))
        b_loops = getattr(self.backbone, 'num_loops', 1)
        c_loops = getattr(self.conditioner, 'num_loops', b_loops)
        if b_loops != c_loops:
            raise ValueError(
                f'backbone.num_loops={b_loops} and conditioner.num_loops='
                f'{c_loops} differ; set both')
        w, h = self.codec.heatmap_size
        f = self.head.upsample_factor
        if w % f or h % f:
            raise ValueError(
                f'codec heatmap_size {self.codec.heatmap_size} is not a '
                f'multiple of the head upsampling {f}')
        self._head_in = (h // f, w // f)

    # ------------------------------------------------------------------
    def forward(self,
                inputs: torch.Tensor,
                data_samples: SampleList = None,
                mode: str = 'tensor'):
        """Dispatch to :meth:`loss`, :meth:`predict` or the heatmaps."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_heatmaps(inputs)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    def _pad_amounts(self, h: int, w: int) -> Tuple[int, int, int, int]:
        """Symmetric zero padding (top, bottom, left, right) to ``pad_to``.

        The leading pad is a multiple of 8 (the finest feature stride) so
        the neck output can be cropped exactly.
        """
        pad_to = int(getattr(self.backbone, 'pad_to', 64))
        ph, pw = (-h) % pad_to, (-w) % pad_to
        top = (ph // 2) // 8 * 8
        left = (pw // 2) // 8 * 8
        return top, ph - top, left, pw - left

    def extract_heatmaps(self, inputs: torch.Tensor) -> torch.Tensor:
        """Heatmaps ``[B, K, H, W]`` of normalised crops ``[B, 3, h, w]``."""
        b, _, h, w = inputs.shape
        x = inputs
        if self.vae_input_size is not None and \
                (w, h) != self.vae_input_size:
            vw, vh = self.vae_input_size
            x = F.interpolate(x, size=(vh, vw), mode='bilinear',
                              align_corners=False)
        vh, vw = x.shape[-2:]
        if vh % 8 or vw % 8:
            raise ValueError(
                f'The VAE input {vw}x{vh} (w x h) must be a multiple of 8; '
                'choose codec.input_size / vae_input_size accordingly')
        top, bottom, left, right = self._pad_amounts(vh, vw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        cond = self.conditioner(b, None)
        feats = self.backbone(x, cond['context'], cond.get('time_embeds'))
        if getattr(self.neck, 'uses_prompts', False):
            y = self.neck(feats, cond['prompts'])
        else:
            y = self.neck(feats)
        if isinstance(y, (list, tuple)):
            y = y[0]
        stride = x.shape[-2] // y.shape[-2]
        y = y[..., top // stride:top // stride + -(-vh // stride),
              left // stride:left // stride + -(-vw // stride)]
        if tuple(y.shape[-2:]) != self._head_in:
            y = F.interpolate(y, size=self._head_in, mode='bilinear',
                              align_corners=False)
        return self.head(y)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """Weighted heatmap MSE of a batch.

        Raises:
            ValueError: The targets do not have the predicted size (the
                pipeline's codec differs from the model's).
        """
        pred = self.extract_heatmaps(inputs)
        target = torch.stack([s.gt_fields.heatmaps for s in data_samples])
        weights = torch.cat([
            s.gt_instance_labels.keypoint_weights for s in data_samples
        ]).to(pred.device)
        if target.shape != pred.shape:
            raise ValueError(
                f'Target heatmaps {tuple(target.shape)} differ from the '
                f'predicted {tuple(pred.shape)}: the pipeline\'s '
                'GenerateHeatmapTarget codec must be the model\'s codec')
        target = target.to(pred.device)
        # keypoints with a positive target weight, for EmptyTargetHook
        MessageHub.get_current_instance().update_info(
            'train_valid_targets',
            dict(count=int((weights > 0).sum()),
                 valid_range='keypoints with a positive target weight '
                 '(labelled and inside the crop)',
                 files=[s.metainfo.get('img_path', '?')
                        for s in data_samples[:2]]))
        return {
            self.loss_module.loss_name:
            self.loss_module(pred, target, weights)
        }

    # ------------------------------------------------------------------
    @staticmethod
    def _flip_indices(data_samples: SampleList) -> Sequence[int]:
        if data_samples:
            idx = data_samples[0].metainfo.get('flip_indices')
            if idx is not None:
                return list(idx)
        return list(DEFAULT_FLIP_INDICES)

    def inference(self, inputs: torch.Tensor,
                  data_samples: SampleList = None) -> torch.Tensor:
        """Heatmaps ``[B, K, H, W]`` with the flip test of ``test_cfg``."""
        if not self.test_cfg.get('flip_test', True):
            return self.extract_heatmaps(inputs)
        b = inputs.shape[0]
        both = self.extract_heatmaps(torch.cat([inputs, inputs.flip(-1)]))
        flipped = self.codec.flip_back(both[b:],
                                       self._flip_indices(data_samples),
                                       self.test_cfg.get('shift_heatmap'))
        return (both[:b] + flipped) * 0.5

    def predict(self, inputs: torch.Tensor,
                data_samples: SampleList = None) -> List[BaseDataElement]:
        """Keypoints of each crop, in image pixels when ``warp_mat`` is
        known (else crop pixels)."""
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(inputs))]
        heatmaps = self.inference(inputs, data_samples)
        keypoints, scores = self.codec.batch_decode(heatmaps)
        for i, sample in enumerate(data_samples):
            kpts = keypoints[i]
            mat = sample.metainfo.get('warp_mat')
            if mat is not None:
                inv = _invert_affine(np.asarray(mat, np.float64))
                kpts = (kpts @ inv[:, :2].T + inv[:, 2]).astype(np.float32)
            pred = InstanceData(keypoints=kpts[None],
                                keypoint_scores=scores[i][None])
            gt = sample.get('gt_instances')
            if gt is not None and 'bboxes' in gt:
                pred.bboxes = np.asarray(gt.bboxes, np.float32)
                pred.bbox_scores = np.asarray(
                    gt.bbox_scores if 'bbox_scores' in gt else
                    np.ones(len(gt.bboxes)), np.float32)
            sample.pred_instances = pred
            if self.test_cfg.get('output_heatmaps', False):
                sample.pred_fields = PixelData(heatmaps=heatmaps[i].detach())
        return data_samples


def _invert_affine(mat: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix."""
    a = mat[:, :2]
    inv = np.linalg.inv(a)
    return np.hstack([inv, -inv @ mat[:, 2:]])
