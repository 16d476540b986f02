"""Writes colourised depth predictions next to the ground truth."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.hooks import Hook

from vpd.registry import HOOKS
from vpd.visualization import (colorize_depth, unique_output_path,
                               write_image_atomic)


@HOOKS.register_module()
class DepthVisualizationHook(Hook):
    """Saves ``input | prediction | ground truth`` images during testing.

    Prediction and ground truth share one colour scale (0 to the larger of
    their maxima); pixels without ground truth are black.
    ``tools/test.py --show-dir DIR`` turns it on and writes
    ``DIR/<image stem>.png``, the layout of every task (two images with one
    stem: :func:`vpd.visualization.unique_output_path`).

    Args:
        draw (bool): Whether to write images. Defaults to False.
        interval (int): Write every ``interval``-th test batch.
            Defaults to 1.
        show_dir (str, optional): Output folder (relative to the run's
            ``log_dir`` unless absolute). Defaults to ``'vis_data'``.
        cmap (str): matplotlib colour map. Defaults to ``'magma_r'``.
    """

    def __init__(self, draw: bool = False, interval: int = 1,
                 show_dir: Optional[str] = None,
                 cmap: str = 'magma_r') -> None:
        self.draw = draw
        self.interval = interval
        self.show_dir = show_dir
        self.cmap = cmap
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
        out_dir = self._out_dir(runner)
        for sample in outputs:
            pred = sample.pred_depth_map.data.squeeze(0).cpu().numpy()
            panels = []
            img_path = sample.metainfo.get('img_path')
            if img_path and osp.isfile(img_path):
                img = mmcv.imread(img_path, channel_order='rgb')
                if img.shape[:2] == pred.shape:
                    panels.append(img)
            gt = None
            if 'gt_depth_map' in sample:
                gt = sample.gt_depth_map.data.squeeze(0).cpu().numpy()
            vmax = float(pred.max())
            if gt is not None and gt.shape == pred.shape:
                vmax = max(vmax, float(gt.max()))
            panels.append(colorize_depth(pred, 0.0, vmax, self.cmap))
            if gt is not None and gt.shape == pred.shape:
                panels.append(
                    colorize_depth(gt, 0.0, vmax, self.cmap, invalid=gt <= 0))
            out = unique_output_path(out_dir, img_path, self._taken,
                                     fallback=f'{batch_idx}')
            write_image_atomic(out, np.concatenate(panels, axis=1))
