"""Monocular depth estimation with a diffusion backbone (VPD, Meta Prompts)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.structures import PixelData

from vpd.models.backbones.derived_widths import (derive_conditioner_cfg,
                                                 derive_head_cfg,
                                                 derive_neck_cfg,
                                                 neck_output_channels)
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
    overlaps; ``window_stride=S`` places them instead as mmseg's sliding
    window does (x = 0, S, 2S, ..., the last one flush with the border; the
    mmseg port's 512 recipe: 512x683 -> x = 0, 128, 171), and then the
    number of windows follows from S. All windows and flips of a batch go
    through the model as one batch.

    Widths that follow from the backbone (the conditioner's ``embed_dim``
    and ``time_embed_dim``, the neck's ``in_channels`` and prompt width,
    the head's ``in_channels``) are derived when the model is built; a
    config that gives one explicitly with another value is refused with
    both keys and values named (:mod:`vpd.models.backbones.derived_widths`).

    Args:
        backbone (dict): :class:`StableDiffusionBackbone` config.
        conditioner (dict): Conditioner config (returns the UNet context).
        neck (dict): Neck config.
        decode_head (dict): Depth head config (e.g. :class:`VPDDepthHead`).
        loss (dict): Loss config. Defaults to ``BatchSiLogLoss``.
        input_mode (str): ``'pad'`` or ``'resize'``. Defaults to ``'pad'``.
        resize_scale (int): Extra 64-multiples in ``'resize'`` mode.
            Defaults to 1.
        test_cfg (dict, optional): ``flip`` (bool), ``shift_windows``
            (int) and ``window_stride`` (int, optional). Defaults to None
            (plain single pass).
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
        conditioner = derive_conditioner_cfg(conditioner, self.backbone)
        self.conditioner = MODELS.build(conditioner)
        self.neck = MODELS.build(
            derive_neck_cfg(neck, self.backbone, conditioner))
        self.decode_head = MODELS.build(derive_head_cfg(
            decode_head, neck_output_channels(self.neck, conditioner),
            'model.decode_head', 'the output of model.neck'))
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
        self._report_valid_targets(gt, data_samples)
        return {self.loss_decode.loss_name: self.loss_decode(pred, gt)}

    def _report_valid_targets(self, gt: torch.Tensor,
                              data_samples: List) -> None:
        """Put the batch's number of valid ground-truth pixels into the
        MessageHub (key ``'train_valid_targets'``, read by
        :class:`vpd.engine.hooks.EmptyTargetHook`)."""
        valid_mask = getattr(self.loss_decode, 'valid_mask', None)
        if valid_mask is None:
            return
        MessageHub.get_current_instance().update_info(
            'train_valid_targets',
            dict(count=int(valid_mask(gt).sum()),
                 valid_range=getattr(self.loss_decode, 'valid_range',
                                     'valid ground truth'),
                 files=[s.metainfo.get('img_path', '?')
                        for s in data_samples[:2]]))

    # ------------------------------------------------------------------
    @staticmethod
    def _windows(h: int, w: int, n: int,
                 stride: Optional[int] = None) -> Tuple[
            List[Tuple[int, int, int, int]], Optional[Tuple[int, int, int,
                                                            int]]]:
        """Shift windows ``(y0, x0, size_h, size_w)`` and an edge window.

        The ``n`` square windows along the longer side are placed as the
        reference does (``step = (long - short) // (n - 1)``), so the average
        matches the official numbers. When the step does not divide evenly
        the reference leaves the last few columns (rows) uncovered (0 / 0
        there); the edge window, flush with the far border, is then returned
        too and fills only those pixels (None when the windows cover all).
        With ``stride`` the windows are placed as mmseg's sliding window
        (``0, stride, ...``, the last clamped to the border; ``n`` unused)
        and there is no edge window.
        """
        if h == w:
            return [(0, 0, h, w)], None
        if stride is not None:
            if stride < 1:
                raise ValueError(f'window_stride must be >= 1, got {stride}')
            short, span = min(h, w), abs(w - h)
            offsets = sorted({min(i * stride, span)
                              for i in range((span + stride - 1) // stride +
                                             1)})
            if w > h:
                return [(0, o, short, short) for o in offsets], None
            return [(o, 0, short, short) for o in offsets], None
        if n < 2:
            return [(0, 0, h, w)], None
        if w > h:
            step = (w - h) // (n - 1)
            wins = [(0, i * step, h, h) for i in range(n)]
            edge = (0, w - h, h, h) if wins[-1][1] + h < w else None
        else:
            step = (h - w) // (n - 1)
            wins = [(i * step, 0, w, w) for i in range(n)]
            edge = (h - w, 0, w, w) if wins[-1][0] + w < h else None
        return wins, edge

    @staticmethod
    def _merge_windows(preds: Sequence[torch.Tensor],
                       wins: Sequence[Tuple[int, int, int, int]],
                       edge: Optional[Tuple[int, int, int, int]], h: int,
                       w: int) -> torch.Tensor:
        """Average the window predictions; the edge window fills the rest.

        Args:
            preds (list[Tensor]): ``[B, 1, size_h, size_w]`` per window, the
                edge window's last when there is one.
            wins (list[tuple]): The reference windows.
            edge (tuple, optional): The edge window.
            h (int): Output height.
            w (int): Output width.
        """
        out = preds[0].new_zeros(preds[0].shape[0], 1, h, w)
        count = preds[0].new_zeros(1, 1, h, w)
        for pred, (y, x, wh, ww) in zip(preds, wins):
            out[..., y:y + wh, x:x + ww] += pred
            count[..., y:y + wh, x:x + ww] += 1
        if edge is not None:
            y, x, wh, ww = edge
            empty = (count[..., y:y + wh, x:x + ww] == 0).to(out.dtype)
            out[..., y:y + wh, x:x + ww] += preds[len(wins)] * empty
            count[..., y:y + wh, x:x + ww] += empty
        return out / count

    def inference(self, inputs: torch.Tensor,
                  data_samples: SampleList = None) -> torch.Tensor:
        """Depth with the test-time options of ``test_cfg``, one batch."""
        flip = bool(self.test_cfg.get('flip', False))
        n_win = int(self.test_cfg.get('shift_windows', 1) or 1)
        stride = self.test_cfg.get('window_stride')
        b, _, h, w = inputs.shape
        wins, edge = self._windows(h, w, n_win, stride)
        if len(wins) == 1 and not flip:
            return self.extract_depth(inputs, data_samples)
        views = wins + ([edge] if edge is not None else [])
        crops = [inputs[..., y:y + wh, x:x + ww] for y, x, wh, ww in views]
        batch = torch.cat(crops, dim=0)
        samples = (list(data_samples) * len(views)) if data_samples else None
        if flip:
            batch = torch.cat([batch, batch.flip(-1)], dim=0)
            samples = samples * 2 if samples else None
        pred = self.extract_depth(batch, samples)
        if flip:
            half = pred.shape[0] // 2
            pred = (pred[:half] + pred[half:].flip(-1)) / 2
        return self._merge_windows(list(pred.split(b)), wins, edge, h, w)

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
        # float32 out, also under autocast (the metric and the PNGs expect it)
        depth = self.inference(inputs, data_samples).float()
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
