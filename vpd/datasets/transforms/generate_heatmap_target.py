"""Heatmap training targets from the warped keypoints."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from vpd.registry import TASK_UTILS, TRANSFORMS


@TRANSFORMS.register_module()
class GenerateHeatmapTarget(BaseTransform):
    """Encode ``transformed_keypoints`` with a heatmap codec.

    The codec (``UDPHeatmap`` or ``MSRAHeatmap``, built from
    ``TASK_UTILS``) must be the one of the model's ``codec``; the configs
    define it once and use it in both places, as mmpose's ``GenerateTarget``
    (not imported: mmpose is not a dependency, README, Installation notes).

    Required keys: ``transformed_keypoints`` ``[1, K, 2]``,
    ``keypoints_visible`` ``[1, K]``. Added keys: ``heatmaps``
    ``[K, H, W]``, ``keypoint_weights`` ``[1, K]``.

    Args:
        encoder (dict): Codec config.
    """

    def __init__(self, encoder: dict) -> None:
        self.encoder_cfg = dict(encoder)
        self.encoder = TASK_UTILS.build(self.encoder_cfg)

    def transform(self, results: dict) -> dict:
        kpts = results.get('transformed_keypoints')
        if kpts is None:
            raise KeyError('GenerateHeatmapTarget needs "transformed_'
                           'keypoints": put TopdownAffine before it')
        vis = results.get('keypoints_visible')
        encoded = self.encoder.encode(np.asarray(kpts), vis)
        results['heatmaps'] = encoded['heatmaps']
        results['keypoint_weights'] = encoded['keypoint_weights']
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(encoder={self.encoder!r})'
