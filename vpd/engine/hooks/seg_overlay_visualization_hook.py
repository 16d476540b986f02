"""Writes segmentation overlays of the test images: ``DIR/<stem>.png``."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.hooks import Hook

from vpd.registry import HOOKS
from vpd.visualization import (default_palette, overlay_segmentation,
                               unique_output_path, write_image_atomic)


@HOOKS.register_module()
class SegOverlayVisualizationHook(Hook):
    """Saves ``input | prediction | ground truth`` overlays during testing.

    The segmentation counterpart of :class:`DepthVisualizationHook`, with
    the same layout: ``tools/test.py --show-dir DIR`` writes
    ``DIR/<image stem>.png`` (two images with one stem:
    :func:`vpd.visualization.unique_output_path`), each the input, the
    predicted classes and the ground truth (when the sample has one) drawn
    over it in the dataset's palette (``dataset_meta['palette']``, else a
    fixed random one); ignored pixels are left as they are. mmseg's
    ``SegVisualizationHook`` writes ``<vis_data>/vis_image/test_<file
    name>_<step>.png`` through the visualizer's backends instead, and warns
    at every run that ``draw=False``.

    Args:
        draw (bool): Whether to write images. Defaults to False.
        interval (int): Write every ``interval``-th test batch.
            Defaults to 1.
        show_dir (str, optional): Output folder (relative to the run's
            ``log_dir`` unless absolute). Defaults to ``'vis_data'``.
        opacity (float): Weight of the class colours. Defaults to 0.5.
        ignore_index (int): Label left uncoloured. Defaults to 255.
    """

    def __init__(self, draw: bool = False, interval: int = 1,
                 show_dir: Optional[str] = None, opacity: float = 0.5,
                 ignore_index: int = 255) -> None:
        self.draw = draw
        self.interval = interval
        self.show_dir = show_dir
        self.opacity = opacity
        self.ignore_index = ignore_index
        self._taken = {}

    def _out_dir(self, runner) -> str:
        d = self.show_dir or 'vis_data'
        return d if osp.isabs(d) else osp.join(runner.log_dir, d)

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        """Write the images of one test batch."""
        if not self.draw or batch_idx % self.interval:
            return
        import mmcv
        meta = getattr(runner.visualizer, 'dataset_meta', None) or {}
        out_dir = self._out_dir(runner)
        for sample in outputs:
            pred = sample.pred_sem_seg.data[0].cpu().numpy()
            palette = meta.get('palette')
            if palette is None:
                num = int(sample.seg_logits.data.shape[0]) if \
                    'seg_logits' in sample else int(pred.max()) + 1
                palette = default_palette(num)
            img_path = sample.metainfo.get('img_path')
            img = None
            if img_path and osp.isfile(img_path):
                img = mmcv.imread(img_path, channel_order='rgb')
                if img.shape[:2] != pred.shape:
                    img = mmcv.imresize(img, pred.shape[::-1])
            if img is None:
                img = np.zeros((*pred.shape, 3), np.uint8)
            panels = [img, overlay_segmentation(img, pred, palette,
                                                self.opacity,
                                                self.ignore_index)]
            if 'gt_sem_seg' in sample:
                gt = sample.gt_sem_seg.data[0].cpu().numpy()
                if gt.shape == pred.shape:
                    panels.append(overlay_segmentation(
                        img, gt, palette, self.opacity, self.ignore_index))
            out = unique_output_path(out_dir, img_path, self._taken,
                                     fallback=f'{batch_idx}')
            write_image_atomic(out, np.concatenate(panels, axis=1))
