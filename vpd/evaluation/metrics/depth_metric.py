"""Monocular depth metrics as computed by VPD / MetaPrompts (GLPDepth)."""
from __future__ import annotations

import logging
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from vpd.registry import METRICS
from vpd.utils.checkpoint import atomic_write_bytes

#: Fractions of (h, h, w, w) of the KITTI evaluation crops.
_KITTI_CROPS = {
    'garg': (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    'kitti_eigen': (0.3324324, 0.91351351, 0.0359477, 0.96405229),
}
_CROP_TYPES = (None, 'eigen', 'nyu_crop', 'garg', 'kitti_eigen')


@METRICS.register_module()
class DepthMetric(BaseMetric):
    """d1 d2 d3 abs_rel sq_rel rmse rmse_log log10 silog, mean over images.

    Registered as ``DepthMetric`` in the vpd scope: under
    ``default_scope='vpd'`` it shadows mmseg's class of the same name, which
    stays reachable as ``'mmseg.DepthMetric'``. mmseg's version is not
    subclassed because it keeps every valid pixel of every image until the
    end (and gathers them across ranks), has no KITTI crops, does not guard
    against non-finite predictions and writes PNGs named by file name only.

    Per image, as the reference (``utils_depth/metrics.py``): non-finite
    predictions are replaced (inf -> ``max_depth``, nan -> ``min_depth``),
    the prediction is clamped to ``[min_depth, max_depth]`` (a no-op for a
    ``sigmoid * max_depth`` head except below ``min_depth``, where it avoids
    ``log(0)``), pixels with ``min_depth < gt < max_depth`` inside the crop
    are kept, and with ``e = log(pred) - log(gt)``:

    - ``d_k``: fraction with ``max(pred/gt, gt/pred) < 1.25 ** k``
    - ``abs_rel = mean(|pred - gt| / gt)``,
      ``sq_rel = mean((pred - gt) ** 2 / gt)``
    - ``rmse = sqrt(mean((pred - gt) ** 2))``, ``rmse_log = sqrt(mean(e**2))``
    - ``log10 = mean(|log10 pred - log10 gt|)``
    - ``silog = silog_scale * sqrt(mean(e**2) - silog_lambda * mean(e)**2)``;
      the reference's defaults are lambda 0.5 and scale 1; the KITTI
      benchmark (BTS ``compute_errors``) uses lambda 1 and scale 100.

    Each metric is then averaged over images (images without valid pixels
    are skipped with a warning naming the file and the range). Only these
    nine numbers per image (and the fraction of non-finite predicted pixels)
    are kept in ``self.results``, so mmengine gathers them cheaply across
    ranks. A prediction that is NaN/Inf *everywhere* (a model with NaN
    weights) is not turned into ordinary-looking numbers: evaluation stops
    with a ``ValueError`` naming the images; a few non-finite pixels are
    replaced as the reference does, with a warning.

    Crops (``crop_type``):

    - ``'eigen'`` (alias ``'nyu_crop'``): NYU rows 45:471, cols 41:601 of a
      480x640 map; other sizes use the same fractions, rounded down.
    - ``'garg'``: KITTI, rows ``0.40810811 h : 0.99189189 h``, cols
      ``0.03594771 w : 0.96405229 w`` of the ground truth (after the KB crop).
    - ``'kitti_eigen'``: KITTI Eigen crop (0.3324324, 0.91351351, 0.0359477,
      0.96405229).

    Inputs: data samples (dicts) with ``pred_depth_map.data`` and
    ``gt_depth_map.data``, both [1, H, W] in metres, and ``img_path``.

    Args:
        min_depth (float): Lower bound of valid ground truth (exclusive) and
            of the clamped prediction. Defaults to 1e-3.
        max_depth (float): Upper bound (exclusive for ground truth): 10 for
            NYU, 80 for KITTI. Defaults to 10.0.
        crop_type (str, optional): None, 'eigen', 'nyu_crop', 'garg' or
            'kitti_eigen'. Defaults to None.
        metrics (Sequence[str], optional): Subset of :attr:`METRICS` to
            report. Defaults to all.
        silog_lambda (float): Weight of the squared mean in silog.
            Defaults to 0.5.
        silog_scale (float): Factor on silog. Defaults to 1.0.
        output_dir (str, optional): Write each prediction there as a 16-bit
            PNG (``pred * output_depth_scale``, written atomically). The file
            is ``<img_id>.png`` when the sample has an ``img_id`` (the depth
            datasets set it; add ``'img_id'`` to ``PackSegInputs``'s
            ``meta_keys``), else ``<parent folder>_<image stem>.png``.
            Defaults to None.
        output_depth_scale (float): 1000 writes millimetres (NYU); 256 is
            KITTI's convention. Defaults to 1000.0.
        format_only (bool): Only write predictions, compute nothing (needs
            ``output_dir``; ground truth may be absent). Defaults to False.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to None (no
            prefix).
    """

    METRICS = ('d1', 'd2', 'd3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log',
               'log10', 'silog')
    #: Metric names stay unprefixed (``rmse``, not ``depth/rmse``: the
    #: configs' ``save_best='rmse'`` and the tools read them); an explicit
    #: empty prefix, so mmengine does not warn that none was set.
    default_prefix: Optional[str] = ''

    def __init__(self,
                 min_depth: float = 1e-3,
                 max_depth: float = 10.0,
                 crop_type: Optional[str] = None,
                 metrics: Optional[Sequence[str]] = None,
                 silog_lambda: float = 0.5,
                 silog_scale: float = 1.0,
                 output_dir: Optional[str] = None,
                 output_depth_scale: float = 1000.0,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if crop_type not in _CROP_TYPES:
            raise ValueError(
                f'DepthMetric crop_type must be one of {_CROP_TYPES}, got '
                f'{crop_type!r}.')
        if not 0 <= min_depth < max_depth:
            raise ValueError(
                'DepthMetric needs 0 <= min_depth < max_depth, got '
                f'{min_depth} and {max_depth}.')
        if metrics is None:
            metrics = self.METRICS
        unknown = [m for m in metrics if m not in self.METRICS]
        if unknown:
            raise ValueError(
                f'DepthMetric: unknown metric(s) {unknown}; choose from '
                f'{self.METRICS}.')
        if format_only and not output_dir:
            raise ValueError('DepthMetric: format_only=True needs output_dir.')
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.crop_type = 'eigen' if crop_type == 'nyu_crop' else crop_type
        self.metrics = tuple(metrics)
        self.silog_lambda = float(silog_lambda)
        self.silog_scale = float(silog_scale)
        self.output_dir = output_dir
        self.output_depth_scale = float(output_depth_scale)
        self.format_only = format_only
        self._nonfinite_images: List[str] = []

    # ------------------------------------------------------------------
    def crop_mask(self, height: int, width: int) -> torch.Tensor:
        """The evaluation crop of an ``height x width`` map.

        Args:
            height (int): Map height.
            width (int): Map width.

        Returns:
            torch.Tensor: Bool mask [height, width], True inside the crop.
        """
        mask = torch.zeros((height, width), dtype=torch.bool)
        if self.crop_type is None:
            mask[:] = True
        elif self.crop_type == 'eigen':
            mask[45 * height // 480:471 * height // 480,
                 41 * width // 640:601 * width // 640] = True
        else:
            top, bottom, left, right = _KITTI_CROPS[self.crop_type]
            mask[int(top * height):int(bottom * height),
                 int(left * width):int(right * width)] = True
        return mask

    def compute_image_metrics(self, pred: torch.Tensor,
                              gt: torch.Tensor) -> Optional[Dict[str, float]]:
        """All nine metrics of one image.

        Args:
            pred (torch.Tensor): Predicted depth [H, W], metres.
            gt (torch.Tensor): Ground-truth depth [H, W], metres.

        Returns:
            dict | None: Metric name -> value; None without valid pixels.
        """
        gt = gt.detach().cpu()
        # The bounds are compared in the ground truth's own dtype, as the
        # reference does (1 mm stored as float32 is not > float32(1e-3)).
        valid = (gt > self.min_depth) & (gt < self.max_depth)
        pred = pred.detach().to('cpu', torch.float64)
        gt = gt.to(torch.float64)
        pred = torch.where(torch.isinf(pred),
                           torch.full_like(pred, self.max_depth), pred)
        pred = torch.where(torch.isnan(pred),
                           torch.full_like(pred, self.min_depth), pred)
        pred = pred.clamp(self.min_depth, self.max_depth)
        valid &= self.crop_mask(*gt.shape)
        if not bool(valid.any()):
            return None
        pred, gt = pred[valid], gt[valid]
        ratio = torch.maximum(pred / gt, gt / pred)
        diff = pred - gt
        err_log = torch.log(pred) - torch.log(gt)
        silog_sq = (err_log.pow(2).mean() -
                    self.silog_lambda * err_log.mean().pow(2)).clamp_min(0)
        values = {
            'd1': (ratio < 1.25).double().mean(),
            'd2': (ratio < 1.25**2).double().mean(),
            'd3': (ratio < 1.25**3).double().mean(),
            'abs_rel': (diff.abs() / gt).mean(),
            'sq_rel': (diff.pow(2) / gt).mean(),
            'rmse': diff.pow(2).mean().sqrt(),
            'rmse_log': err_log.pow(2).mean().sqrt(),
            'log10': (torch.log10(pred) - torch.log10(gt)).abs().mean(),
            'silog': self.silog_scale * silog_sq.sqrt(),
        }
        return {k: float(v) for k, v in values.items()}

    # ------------------------------------------------------------------
    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Evaluate (and optionally write) each prediction of a batch.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts.
        """
        for sample in data_samples:
            img_path = sample.get('img_path', '<unknown image>')
            if 'pred_depth_map' not in sample:
                raise KeyError(
                    f'DepthMetric: the data sample of "{img_path}" has no '
                    '"pred_depth_map".')
            pred = _squeeze_map(sample['pred_depth_map']['data'], img_path,
                                'pred_depth_map')
            if self.output_dir:
                self._write_prediction(pred, sample)
            if self.format_only:
                continue
            if 'gt_depth_map' not in sample:
                raise KeyError(
                    f'DepthMetric: the data sample of "{img_path}" has no '
                    '"gt_depth_map" (use format_only=True to only write '
                    'predictions).')
            gt = _squeeze_map(sample['gt_depth_map']['data'], img_path,
                              'gt_depth_map')
            if pred.shape != gt.shape:
                raise ValueError(
                    f'DepthMetric: prediction {tuple(pred.shape)} and ground '
                    f'truth {tuple(gt.shape)} of "{img_path}" differ in size.')
            result = self.compute_image_metrics(pred, gt)
            if result is None:
                print_log(
                    f'DepthMetric: "{img_path}" has no ground-truth pixel in '
                    f'({self.min_depth:g}, {self.max_depth:g}) m inside the '
                    'evaluation crop; it is left out of the mean (check the '
                    'depth scale of the dataset if this happens often).',
                    logger='current', level=logging.WARNING)
                continue
            nonfinite = int((~torch.isfinite(pred)).sum())
            result['nonfinite_frac'] = nonfinite / max(pred.numel(), 1)
            if nonfinite == pred.numel():
                self._nonfinite_images.append(str(img_path))
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Average the per-image metrics.

        Args:
            results (list[dict]): Per-image metrics from all ranks.

        Returns:
            dict[str, float]: Mean of each metric over images.
        """
        if self.format_only:
            print_log(f'DepthMetric: predictions written to {self.output_dir}',
                      logger='current')
            return OrderedDict()
        if not results:
            raise ValueError(
                'DepthMetric: no image had valid ground truth; check '
                'min_depth/max_depth and the depth scale of the dataset.')
        all_bad = sum(1 for r in results
                      if r.get('nonfinite_frac', 0.0) >= 1.0)
        if all_bad:
            example = (f' (e.g. "{self._nonfinite_images[0]}")'
                       if self._nonfinite_images else '')
            self._nonfinite_images = []
            raise ValueError(
                f'DepthMetric: the predictions of {all_bad} of '
                f'{len(results)} images are NaN/Inf everywhere{example}; '
                "the model's weights or inputs are probably NaN, so no "
                'metric is reported.')
        some_bad = sum(1 for r in results
                       if r.get('nonfinite_frac', 0.0) > 0)
        if some_bad:
            print_log(
                f'DepthMetric: {some_bad} of {len(results)} predictions had '
                'NaN/Inf pixels, replaced by max_depth (inf) / min_depth '
                '(nan) as the reference does.', logger='current',
                level=logging.WARNING)
        out = OrderedDict()
        for name in self.metrics:
            out[name] = float(np.mean([r[name] for r in results]))
        print_log(
            'DepthMetric over {} images: {}'.format(
                len(results),
                ', '.join(f'{k}={v:.4f}' for k, v in out.items())),
            logger='current')
        return out

    # ------------------------------------------------------------------
    def _output_name(self, sample: dict) -> str:
        """Relative PNG path of one prediction."""
        img_id = sample.get('img_id')
        if img_id:
            return str(img_id).lstrip('/') + '.png'
        img_path = sample.get('img_path')
        if not img_path:
            raise KeyError(
                'DepthMetric: writing predictions needs "img_id" or '
                '"img_path" in the data sample.')
        parent = osp.basename(osp.dirname(img_path))
        stem = osp.splitext(osp.basename(img_path))[0]
        return f'{parent}_{stem}.png' if parent else f'{stem}.png'

    def _write_prediction(self, pred: torch.Tensor, sample: dict) -> None:
        """Write one prediction as a 16-bit PNG, atomically."""
        path = osp.join(self.output_dir, self._output_name(sample))
        folder = osp.dirname(path)
        os.makedirs(folder, exist_ok=True)
        values = pred.detach().to('cpu', torch.float64).numpy()
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        values = np.clip(np.rint(values * self.output_depth_scale), 0, 65535)
        ok, buf = cv2.imencode('.png', values.astype(np.uint16),
                               [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise RuntimeError(f'DepthMetric: cannot encode "{path}".')
        # temp file + rename, mode 0644 under the usual umask
        atomic_write_bytes(buf.tobytes(), path)


def _squeeze_map(data, img_path: str, key: str) -> torch.Tensor:
    """[1, H, W] or [H, W] tensor/array -> [H, W] tensor."""
    data = torch.as_tensor(data)
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise ValueError(
            f'DepthMetric: "{key}" of "{img_path}" has shape '
            f'{tuple(data.shape)}; expected [1, H, W].')
    return data
