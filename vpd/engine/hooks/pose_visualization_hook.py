"""Writes test images with the predicted skeletons drawn on them."""
from __future__ import annotations

import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.hooks import Hook

from vpd.registry import HOOKS


@HOOKS.register_module()
class PoseVisualizationHook(Hook):
    """Draws every predicted pose of an image on it, one PNG per image.

    A top-down model predicts one pose per person box, so the poses of an
    image arrive in several samples; the hook collects them (keypoints and
    scores only) and writes the pictures after the test epoch, with
    :func:`vpd.visualization.draw_pose_skeletons`.
    ``tools/test.py --show-dir DIR`` turns it on and sets ``DIR`` (through
    the visualizer's ``save_dir``, as for segmentation).

    Args:
        draw (bool): Whether to write images. Defaults to False.
        interval (int): Use every ``interval``-th test batch. Defaults to 1.
        show_dir (str, optional): Output folder (relative to the run's
            ``log_dir`` unless absolute). Defaults to the visualizer's
            ``save_dir``, else ``log_dir/vis_data``.
        kpt_thr (float): Keypoints scoring below are not drawn.
            Defaults to 0.3.
        show (bool): Opening windows is not supported (headless); must stay
            False. Defaults to False.
        wait_time (float): Unused (``tools/test.py`` passes it).

    Raises:
        ValueError: ``show=True``.
    """

    def __init__(self,
                 draw: bool = False,
                 interval: int = 1,
                 show_dir: Optional[str] = None,
                 kpt_thr: float = 0.3,
                 show: bool = False,
                 wait_time: float = 0.0) -> None:
        if show:
            raise ValueError('PoseVisualizationHook does not open windows; '
                             'use --show-dir DIR to write images')
        self.draw = draw
        self.interval = max(1, int(interval))
        self.show_dir = show_dir
        self.kpt_thr = float(kpt_thr)
        self._poses: Dict[str, List[tuple]] = defaultdict(list)

    def _out_dir(self, runner) -> str:
        d = self.show_dir
        if d is None:
            vis = (runner.cfg.get('visualizer') or {}) if hasattr(
                runner, 'cfg') else {}
            d = vis.get('save_dir') or 'vis_data'
        return d if osp.isabs(d) else osp.join(runner.log_dir, d)

    def before_test_epoch(self, runner) -> None:
        self._poses = defaultdict(list)

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        """Keep the poses of one test batch."""
        if not self.draw or batch_idx % self.interval:
            return
        for sample in outputs:
            pred = sample.get('pred_instances')
            path = sample.metainfo.get('img_path')
            if pred is None or not path:
                continue
            self._poses[path].append(
                (np.asarray(pred.keypoints), np.asarray(pred.keypoint_scores),
                 np.asarray(pred.bboxes) if 'bboxes' in pred else None))

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Write one picture per image."""
        if not self.draw or not self._poses:
            return
        import mmcv

        from vpd.visualization import draw_pose_skeletons, write_image_atomic
        meta = getattr(runner.test_dataloader.dataset, 'metainfo', {}) or {}
        skeleton = meta.get('skeleton_links')
        out_dir = self._out_dir(runner)
        for path, poses in self._poses.items():
            if not osp.isfile(path):
                continue
            rgb = mmcv.imread(path, channel_order='rgb')
            kpts = np.concatenate([p[0] for p in poses])
            scores = np.concatenate([p[1] for p in poses])
            boxes = [p[2] for p in poses if p[2] is not None]
            boxes = np.concatenate(boxes) if boxes else None
            out = draw_pose_skeletons(rgb, kpts, scores, skeleton,
                                      self.kpt_thr, boxes)
            parent = osp.basename(osp.dirname(path))
            name = osp.splitext(osp.basename(path))[0]
            write_image_atomic(osp.join(out_dir, f'{parent}_{name}.png'), out)
        runner.logger.info(f'PoseVisualizationHook: wrote {len(self._poses)} '
                           f'images to {out_dir}')
        self._poses = defaultdict(list)
