"""Writes referring-segmentation pictures of the test set: ``DIR/<stem>.png``."""
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.hooks import Hook

from vpd.registry import HOOKS


@HOOKS.register_module()
class ReferringVisualizationHook(Hook):
    """One picture per test image, one row per sentence of that image.

    The referring counterpart of :class:`SegOverlayVisualizationHook`, with
    the same layout: ``tools/test.py --show-dir DIR`` writes
    ``DIR/<image stem>.png`` (two images with one stem:
    :func:`vpd.visualization.unique_output_path`). A referring test set has
    one sample per sentence and several sentences per image, so each
    sentence adds a row to its image's picture
    (:func:`vpd.visualization.referring_row`): the sentence written above
    ``input | prediction (orange) | ground truth (green)``, at the size of
    ``pred_sem_seg`` (the original image). The picture is rewritten
    (atomically) after each row, so it is complete whatever order the
    sentences come in; nothing is kept in memory between batches. With
    several processes each writes the rows of the sentences it evaluated
    (a picture may then hold only some of them).

    Args:
        draw (bool): Whether to write images. Defaults to False.
        interval (int): Write every ``interval``-th test batch.
            Defaults to 1.
        show_dir (str, optional): Output folder (relative to the run's
            ``log_dir`` unless absolute). Defaults to ``'vis_data'``.
        opacity (float): Weight of the mask tint. Defaults to 0.5.
    """

    def __init__(self, draw: bool = False, interval: int = 1,
                 show_dir: Optional[str] = None,
                 opacity: float = 0.5) -> None:
        if int(interval) < 1:
            raise ValueError('ReferringVisualizationHook interval must be '
                             f'>= 1, got {interval}')
        self.draw = draw
        self.interval = int(interval)
        self.show_dir = show_dir
        self.opacity = float(opacity)
        self._taken: Dict[str, str] = {}
        self._written: Dict[str, int] = {}

    def _out_dir(self, runner) -> str:
        d = self.show_dir or 'vis_data'
        return d if osp.isabs(d) else osp.join(runner.log_dir, d)

    def before_test_epoch(self, runner) -> None:
        """Start new pictures (earlier files in DIR are overwritten)."""
        self._taken = {}
        self._written = {}

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        """Add the rows of one test batch to their images' pictures."""
        if not self.draw or batch_idx % self.interval:
            return
        import cv2
        import mmcv

        from vpd.visualization import (referring_row, unique_output_path,
                                       write_image_atomic)
        out_dir = self._out_dir(runner)
        for sample in outputs:
            pred = sample.pred_sem_seg.data[0].cpu().numpy()
            img_path = sample.metainfo.get('img_path')
            img = None
            if img_path and osp.isfile(img_path):
                img = mmcv.imread(img_path, channel_order='rgb')
            if img is None:
                img = np.zeros((*pred.shape, 3), np.uint8)
            gt = None
            if 'gt_sem_seg' in sample:
                gt = sample.gt_sem_seg.data[0].cpu().numpy()
                if gt.shape != pred.shape:
                    gt = cv2.resize(gt.astype(np.uint8), pred.shape[::-1],
                                    interpolation=cv2.INTER_NEAREST)
                gt = gt == 1
            row = referring_row(img, pred == 1,
                                str(sample.metainfo.get('text', '')), gt,
                                self.opacity)
            out = unique_output_path(out_dir, img_path, self._taken,
                                     fallback=f'{batch_idx}')
            if out in self._written:
                before = mmcv.imread(out, channel_order='rgb')
                if before is not None and before.shape[1] == row.shape[1]:
                    row = np.concatenate([before, row], axis=0)
            write_image_atomic(out, row)
            self._written[out] = self._written.get(out, 0) + 1
