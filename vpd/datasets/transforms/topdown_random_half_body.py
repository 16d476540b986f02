"""Half-body augmentation: crop to the upper or the lower body."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from vpd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class TopdownRandomHalfBody(BaseTransform):
    """With probability ``prob``, replace the box by one around half a body.

    Applied only to an instance with at least ``min_total_keypoints``
    labelled keypoints. The half (upper body preferred with probability
    ``upper_prioritized_prob``) needs ``min_upper_keypoints`` /
    ``min_lower_keypoints`` labelled keypoints; the new box is centred on
    their mean, spans their extent and is scaled by ``padding``. Defaults
    and logic as mmpose's ``RandomHalfBody`` (not imported: mmpose is not a
    dependency, README, Installation notes).

    Required keys: ``keypoints`` ``[N, K, 2]``, ``keypoints_visible``
    ``[N, K]``, ``bbox_center``, ``bbox_scale``, ``upper_body_ids``,
    ``lower_body_ids``. Modified keys: ``bbox_center``, ``bbox_scale``.

    Args:
        min_total_keypoints (int): Defaults to 9.
        min_upper_keypoints (int): Defaults to 2.
        min_lower_keypoints (int): Defaults to 3.
        padding (float): Defaults to 1.5.
        prob (float): Defaults to 0.3.
        upper_prioritized_prob (float): Defaults to 0.7.
    """

    def __init__(self,
                 min_total_keypoints: int = 9,
                 min_upper_keypoints: int = 2,
                 min_lower_keypoints: int = 3,
                 padding: float = 1.5,
                 prob: float = 0.3,
                 upper_prioritized_prob: float = 0.7) -> None:
        self.min_total_keypoints = int(min_total_keypoints)
        self.min_upper_keypoints = int(min_upper_keypoints)
        self.min_lower_keypoints = int(min_lower_keypoints)
        self.padding = float(padding)
        self.prob = float(prob)
        self.upper_prioritized_prob = float(upper_prioritized_prob)

    def transform(self, results: dict) -> dict:
        kpts = np.asarray(results['keypoints'], np.float32)
        vis = np.asarray(results['keypoints_visible'], np.float32)
        centers = np.asarray(results['bbox_center'], np.float32).copy()
        scales = np.asarray(results['bbox_scale'], np.float32).copy()
        upper = list(results['upper_body_ids'])
        lower = list(results['lower_body_ids'])
        for i in range(kpts.shape[0]):
            v = vis[i] > 0
            if v.sum() < self.min_total_keypoints or \
                    np.random.rand() > self.prob:
                continue
            up = [j for j in upper if v[j]]
            low = [j for j in lower if v[j]]
            prefer_upper = np.random.rand() < self.upper_prioritized_prob
            if len(up) < self.min_upper_keypoints and \
                    len(low) < self.min_lower_keypoints:
                continue
            if len(low) < self.min_lower_keypoints:
                ids = up
            elif len(up) < self.min_upper_keypoints:
                ids = low
            else:
                ids = up if prefer_upper else low
            sel = kpts[i, ids]
            centers[i] = sel.mean(axis=0)
            scales[i] = (sel.max(axis=0) - sel.min(axis=0)) * self.padding
        results['bbox_center'] = centers
        results['bbox_scale'] = scales
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, '
                f'padding={self.padding})')
