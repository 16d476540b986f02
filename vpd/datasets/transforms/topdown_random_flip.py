"""Horizontal flip of an image with its person box and keypoints."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from vpd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class TopdownRandomFlip(BaseTransform):
    """Mirror image, box, box centre and keypoints with probability ``prob``.

    Pixel coordinates follow mmpose (pixel centres at integers): ``x ->
    w - 1 - x``; left/right keypoints swap places by ``flip_indices`` (from
    the dataset's metainfo). As mmpose's ``RandomFlip(direction=
    'horizontal')`` (not imported: mmpose is not a dependency, README,
    Installation notes); mmcv's ``RandomFlip`` knows no keypoints.

    Required keys: ``img``, ``flip_indices``; optional ``bbox``,
    ``bbox_center``, ``keypoints``, ``keypoints_visible``. Added keys:
    ``flip``, ``flip_direction``.

    Args:
        prob (float): Flip probability. Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = float(prob)

    @cache_randomness
    def _do_flip(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        if not self._do_flip():
            results['flip'] = False
            results['flip_direction'] = None
            return results
        img = results['img']
        w = img.shape[1]
        results['img'] = np.ascontiguousarray(img[:, ::-1])
        if results.get('bbox') is not None:
            bbox = np.asarray(results['bbox'], np.float32).copy()
            bbox[..., 0::2] = w - 1 - bbox[..., 2::-2]
            results['bbox'] = bbox
        if results.get('bbox_center') is not None:
            center = np.asarray(results['bbox_center'], np.float32).copy()
            center[..., 0] = w - 1 - center[..., 0]
            results['bbox_center'] = center
        if results.get('keypoints') is not None:
            flip_indices = results.get('flip_indices')
            if flip_indices is None:
                raise KeyError('TopdownRandomFlip needs "flip_indices" (the '
                               "dataset's metainfo) to swap left and right")
            kpts = np.asarray(results['keypoints'], np.float32)
            kpts = kpts.take(flip_indices, axis=-2).copy()
            kpts[..., 0] = w - 1 - kpts[..., 0]
            results['keypoints'] = kpts
            if results.get('keypoints_visible') is not None:
                results['keypoints_visible'] = np.asarray(
                    results['keypoints_visible']).take(flip_indices,
                                                       axis=-1).copy()
        results['flip'] = True
        results['flip_direction'] = 'horizontal'
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob})'
