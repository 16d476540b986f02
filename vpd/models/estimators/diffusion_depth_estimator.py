"""Monocular depth estimation with a diffusion backbone (VPD, Meta Prompts)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData

from vpd.registry import MODELS

SampleList = Optional[List]


@MODELS.register_module()
class DiffusionDepthEstimator(BaseModel):
    """Image -> VAE latent -> conditioned UNet -> neck -> depth head.

    Follows the mmengine model contract ``forward(inputs, data_samples,
    mode)`` with ``'loss'``, ``'predict'`` and ``'tensor'``; data samples are
    mmseg ``SegDataSample`` with ``gt_depth_map`` / ``pred_depth_map``.

    Any input size works. ``input_mode='pad'`` (VPD): the backbone zero-pads
    to a multiple of 64, the neck output is cropped to the unpadded extent
    (``ceil(size / head_stride)``, the reference's one-row/col crop for 480)
    and the prediction to the input size. ``input_mode='resize'`` (Meta
    Prompts): the image is resized to ``(size // 64 + resize_scale) * 64``,
    the neck output resized to ``size // head_stride`` and the prediction
    resized back to the input size if needed.

    Test time (``test_cfg``): ``flip=True`` averages the prediction with that
    of the flipped image; ``shift_windows=N`` (N >= 2) runs N square windows
    along the longer side (NYU: 480x480 at x=0 and x=160) and averages the
    overlaps. All windows and flips of a batch go through the model as one
    batch.

    Args:
        backbone (dict): :class:`StableDiffusionBackbone` config.
        conditioner (dict): Conditioner config (returns the UNet context).
        neck (dict): Neck config.
        decode_head (dict): Depth head config (e.g. :class:`VPDDepthHead`).
        loss (dict): Loss config. Defaults to ``BatchSiLogLoss``.
        input_mode (str): ``'pad'`` or ``'resize'``. Defaults to ``'pad'``.
        resize_scale (int): Extra 64-multiples in ``'resize'`` mode.
            Defaults to 1.
        test_cfg (dict, optional): ``flip`` (bool) and ``shift_windows``
            (int). Defaults to None (plain single pass).
        data_preprocessor (dict, optional): Normalises images to [-1, 1].
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 conditioner: dict,
                 neck: dict,
                 decode_head: dict,
                 loss: dict = dict(type='BatchSiLogLoss'),
                 input_mode: str = 'pad',
                 resize_scale: int = 1,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if input_mode not in ('pad', 'resize'):
            raise ValueError(
                f'input_mode must be "pad" or "resize", got "{input_mode}"')
        self.backbone = MODELS.build(backbone)
        self.conditioner = MODELS.build(conditioner)
        self.neck = MODELS.build(neck)
        self.decode_head = MODELS.build(decode_head)
        self.loss_decode = MODELS.build(loss)
        self.input_mode = input_mode
        self.resize_scale = int(resize_scale)
        self.test_cfg = dict(test_cfg or {})
        self.head_stride = self.decode_head.scale

    # ------------------------------------------------------------------
    def forward(self,
                inputs: torch.Tensor,
                data_samples: SampleList = None,
                mode: str = 'tensor'):
        """Dispatch to :meth:`loss`, :meth:`predict` or :meth:`_forward`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    def extract_depth(self, inputs: torch.Tensor,
                      data_samples: SampleList = None) -> torch.Tensor:
        """Depth ``[B, 1, H, W]`` (metres) of normalised images."""
        b, _, h, w = inputs.shape
        cond = self.conditioner(b, data_samples)
        x = inputs
        if self.input_mode == 'resize':
            size = ((h // 64 + self.resize_scale) * 64,
                    (w // 64 + self.resize_scale) * 64)
            x = F.interpolate(x, size=size, mode='bilinear',
                              align_corners=False)
        feats = self.backbone(x, cond['context'], cond.get('time_embeds'))
        if getattr(self.neck, 'uses_prompts', False):
            x = self.neck(feats, cond['prompts'])
        else:
            x = self.neck(feats)
        s = self.head_stride
        if self.input_mode == 'pad':
            x = x[..., :-(-h // s), :-(-w // s)]
        else:
            x = F.interpolate(x, size=(h // s, w // s), mode='bilinear',
                              align_corners=False)
        depth = self.decode_head(x)
        if depth.shape[-2:] != (h, w):
            if self.input_mode == 'pad':
                depth = depth[..., :h, :w]
            if depth.shape[-2:] != (h, w):
                depth = F.interpolate(depth, size=(h, w), mode='bilinear',
                                      align_corners=False)
        return depth

    def _forward(self, inputs: torch.Tensor,
                 data_samples: SampleList = None) -> torch.Tensor:
        return self.extract_depth(inputs, data_samples)

    def loss(self, inputs: torch.Tensor,
             data_samples: List) -> Dict[str, torch.Tensor]:
        """SiLog loss of a batch (``gt_depth_map`` in metres)."""
        pred = self.extract_depth(inputs, data_samples)
        gt = torch.stack([s.gt_depth_map.data for s in data_samples])
        gt = gt.to(pred.device, pred.dtype)
        if gt.shape[-2:] != pred.shape[-2:]:
            raise ValueError(
                f'Ground-truth depth {tuple(gt.shape[-2:])} and input '
                f'{tuple(pred.shape[-2:])} differ in size; crop/resize '
                'image and depth together in the pipeline')
        return {self.loss_decode.loss_name: self.loss_decode(pred, gt)}

    # ------------------------------------------------------------------
    @staticmethod
    def _windows(h: int, w: int, n: int) -> List[Tuple[int, int, int, int]]:
        """N square windows (y0, x0, size_h, size_w) along the longer side."""
        if n < 2 or h == w:
            return [(0, 0, h, w)]
        if w > h:
            step = (w - h) // (n - 1)
            return [(0, i * step, h, h) for i in range(n)]
        step = (h - w) // (n - 1)
        return [(i * step, 0, w, w) for i in range(n)]

    def inference(self, inputs: torch.Tensor,
                  data_samples: SampleList = None) -> torch.Tensor:
        """Depth with the test-time options of ``test_cfg``, one batch."""
        flip = bool(self.test_cfg.get('flip', False))
        n_win = int(self.test_cfg.get('shift_windows', 1) or 1)
        b, _, h, w = inputs.shape
        wins = self._windows(h, w, n_win)
        if len(wins) == 1 and not flip:
            return self.extract_depth(inputs, data_samples)
        crops = [inputs[..., y:y + wh, x:x + ww] for y, x, wh, ww in wins]
        batch = torch.cat(crops, dim=0)
        samples = (list(data_samples) * len(wins)) if data_samples else None
        if flip:
            batch = torch.cat([batch, batch.flip(-1)], dim=0)
            samples = samples * 2 if samples else None
        pred = self.extract_depth(batch, samples)
        if flip:
            half = pred.shape[0] // 2
            pred = (pred[:half] + pred[half:].flip(-1)) / 2
        out = pred.new_zeros(b, 1, h, w)
        count = pred.new_zeros(1, 1, h, w)
        for i, (y, x, wh, ww) in enumerate(wins):
            out[..., y:y + wh, x:x + ww] += pred[i * b:(i + 1) * b]
            count[..., y:y + wh, x:x + ww] += 1
        return out / count

    def predict(self, inputs: torch.Tensor,
                data_samples: SampleList = None) -> List:
        """Predict depth; fills ``pred_depth_map`` of each sample."""
        from mmseg.structures import SegDataSample
        if data_samples is None:
            data_samples = [
                SegDataSample(metainfo=dict(img_shape=inputs.shape[-2:],
                                            ori_shape=inputs.shape[-2:]))
                for _ in range(inputs.shape[0])
            ]
        depth = self.inference(inputs, data_samples)
        return self.postprocess_result(depth, data_samples)

    @staticmethod
    def postprocess_result(depth: torch.Tensor, data_samples: List) -> List:
        """Undo padding, test-pipeline flip and resize per sample."""
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            d = depth[i:i + 1]
            img_h, img_w = meta.get('img_shape', d.shape[-2:])[:2]
            d = d[..., :img_h, :img_w]
            if meta.get('flip', False):
                axis = -1 if meta.get('flip_direction',
                                      'horizontal') == 'horizontal' else -2
                d = d.flip(axis)
            ori = tuple(meta.get('ori_shape', (img_h, img_w))[:2])
            if tuple(d.shape[-2:]) != ori:
                d = F.interpolate(d, size=ori, mode='bilinear',
                                  align_corners=False)
            sample.set_data(dict(pred_depth_map=PixelData(data=d[0])))
        return data_samples
