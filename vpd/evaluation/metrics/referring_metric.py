"""Referring segmentation metrics: oIoU, mIoU, precision@X (VPD / LAVT)."""
from __future__ import annotations

import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from vpd.registry import METRICS


def resize_mask_nearest(mask: np.ndarray, height: int,
                        width: int) -> np.ndarray:
    """Resize a label map with Pillow's nearest filter (the reference's).

    The reference resizes the target as a PIL ``P`` image with torchvision
    (``refer/transforms.py`` ``Resize``), which Pillow resamples with
    NEAREST; OpenCV's ``INTER_NEAREST`` picks other source pixels.
    """
    from PIL import Image
    if mask.shape == (height, width):
        return mask
    img = Image.fromarray(mask.astype(np.uint8))
    return np.asarray(img.resize((width, height), Image.NEAREST))


@METRICS.register_module()
class ReferringMetric(BaseMetric):
    """Overall IoU, mean IoU and precision at IoU thresholds, per sentence.

    As the reference's ``refer/test.py`` (``evaluate``): for every sentence
    ``I = |pred & gt|``, ``U = |pred | gt|`` (target = label 1), its IoU is
    ``I / U`` (0 when ``U = 0``). Then

    - ``oIoU`` = sum of I / sum of U over all sentences (x100),
    - ``mIoU`` = mean of the per-sentence IoU (x100),
    - ``P@t`` = share of sentences with IoU >= t (x100), t in
      ``thresholds``.

    ``resolution='input'`` (default; the official protocol) compares the
    prediction at the network input size (``pred_sem_seg_input`` of
    :class:`~vpd.models.segmentors.ReferringSegmentor`, i.e. 512x512) with
    the ground truth resized to that size with Pillow's nearest filter, as
    the reference does. ``'original'`` compares ``pred_sem_seg`` (resized
    back to the image) with the original-size ground truth. Only the two
    counts per sentence are kept, so mmengine gathers them cheaply across
    ranks (``collect_results``); the metrics are computed on rank 0 over all
    sentences.

    Args:
        resolution (str): ``'input'`` or ``'original'``. Defaults to
            ``'input'``.
        thresholds (Sequence[float]): IoU thresholds of the precisions.
            Defaults to (0.5, 0.6, 0.7, 0.8, 0.9).
        output_dir (str, optional): Write each predicted mask (0 / 255 PNG,
            at ``resolution``) as ``<ref_id>_<sent_id>.png``, atomically.
            Defaults to None.
        format_only (bool): Only write masks (needs ``output_dir``).
            Defaults to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to None.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 resolution: str = 'input',
                 thresholds: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9),
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if resolution not in ('input', 'original'):
            raise ValueError(f'ReferringMetric resolution must be "input" '
                             f'or "original", got {resolution!r}')
        thresholds = [float(t) for t in thresholds]
        if any(not 0 < t <= 1 for t in thresholds):
            raise ValueError(f'ReferringMetric thresholds must be in (0, 1],'
                             f' got {thresholds}')
        if format_only and not output_dir:
            raise ValueError('ReferringMetric format_only=True needs '
                             'output_dir')
        self.resolution = resolution
        self.thresholds = thresholds
        self.output_dir = output_dir
        self.format_only = format_only
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)

    # ------------------------------------------------------------------
    def _pred(self, sample: dict) -> np.ndarray:
        key = ('pred_sem_seg_input'
               if self.resolution == 'input' else 'pred_sem_seg')
        if key not in sample:
            raise KeyError(
                f'ReferringMetric(resolution="{self.resolution}") needs '
                f'"{key}" in the predictions (ReferringSegmentor sets it); '
                f'got {sorted(sample)}')
        return np.asarray(sample[key]['data'].squeeze(0).cpu().numpy())

    def _gt(self, sample: dict, shape) -> np.ndarray:
        gt = np.asarray(sample['gt_sem_seg']['data'].squeeze(0).cpu()
                        .numpy())
        if gt.shape != tuple(shape):
            if self.resolution == 'original':
                raise ValueError(
                    f'ReferringMetric: ground truth {gt.shape} and '
                    f'prediction {tuple(shape)} of "{sample.get("img_path")}'
                    '" differ; for resolution="original" load the mask '
                    '(LoadReferMask) after Resize in the test pipeline')
            gt = resize_mask_nearest(gt, *shape)
        return gt

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep ``(I, U)`` of each sentence (and write masks if asked)."""
        for sample in data_samples:
            pred = self._pred(sample) == 1
            if self.output_dir:
                self._write(sample, pred)
            if self.format_only:
                continue
            gt = self._gt(sample, pred.shape) == 1
            inter = int(np.logical_and(pred, gt).sum())
            union = int(np.logical_or(pred, gt).sum())
            self.results.append((inter, union))

    def _write(self, sample: dict, pred: np.ndarray) -> None:
        import cv2

        from vpd.utils.checkpoint import atomic_write_bytes
        name = (f'{sample.get("ref_id", "ref")}_'
                f'{sample.get("sent_id", "sent")}.png')
        ok, buf = cv2.imencode('.png', pred.astype(np.uint8) * 255)
        if not ok:  # pragma: no cover - cv2 encodes any uint8 map
            raise IOError(f'Could not encode {name}')
        atomic_write_bytes(buf.tobytes(), osp.join(self.output_dir, name))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        """oIoU, mIoU and ``P@t`` (percent) over every sentence."""
        if self.format_only:
            print_log(f'ReferringMetric: masks written to {self.output_dir}',
                      logger='current')
            return OrderedDict()
        return referring_scores(results, self.thresholds)


def referring_scores(results: Sequence, thresholds: Sequence[float] = (
        0.5, 0.6, 0.7, 0.8, 0.9)) -> Dict[str, float]:
    """The metrics of :class:`ReferringMetric` from ``(I, U)`` pairs.

    Args:
        results (Sequence[tuple[int, int]]): Intersection and union (pixel
            counts) of each sentence.
        thresholds (Sequence[float]): IoU thresholds.

    Returns:
        dict: ``oIoU``, ``mIoU`` and ``P@t``, in percent.
    """
    if not len(results):
        raise ValueError('ReferringMetric: no sentences were evaluated')
    arr = np.asarray(results, dtype=np.float64).reshape(-1, 2)
    inter, union = arr[:, 0], arr[:, 1]
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    out = OrderedDict()
    out['oIoU'] = float(100.0 * inter.sum() / max(union.sum(), 1.0))
    out['mIoU'] = float(100.0 * iou.mean())
    for t in thresholds:
        out[f'P@{t:g}'] = float(100.0 * (iou >= t).mean())
    return out
