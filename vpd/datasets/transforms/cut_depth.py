"""CutDepth: paste a vertical stripe of the depth map into the image."""
from __future__ import annotations

from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from vpd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CutDepth(BaseTransform):
    """Replace a full-height vertical stripe of the image by the depth map.

    The stripe geometry follows the reference (VPD/GLPDepth
    ``BaseDataset.augment_training_data``): with ``a, b ~ U(0, 1)``,
    ``left = int(a * W)`` and ``width = int(max((W - a * W) * b * r, 1))``
    where ``r = max_width_ratio`` (0.75). Put it before the flip, crop and
    photometric transforms, as the reference does.

    Two deliberate differences from the reference:

    - **Values.** The stripe holds depth normalised to ``[0, 255]``
      (``clip(depth / max_depth, 0, 1) * 255``) in all three channels. The
      reference assigns raw millimetres to a uint8 image, which wraps them
      modulo 256; normalised depth is what the CutDepth paper describes.
    - **When.** By default the stripe is pasted with probability ``prob``
      (0.25), drawn from numpy's global generator, which mmengine seeds per
      worker. The reference used a counter (every 4th sample seen by a
      dataset copy, i.e. per dataloader worker, starting with the first);
      ``interval=4`` reproduces that pattern (``prob`` is then ignored).

    Required keys: ``img`` (uint8 or float, HxWx3), ``gt_depth_map``
    (metres, HxW). Modified keys: ``img``.

    Args:
        prob (float): Probability of applying the stripe. Defaults to 0.25.
        interval (int, optional): Apply on every ``interval``-th call of this
            transform instance instead (the first call included). Defaults to
            None.
        max_width_ratio (float): ``r`` above. Defaults to 0.75.
        max_depth (float): Depth (metres) mapped to 255: 10 for NYU, 80 for
            KITTI. Defaults to 10.0.
    """

    def __init__(self,
                 prob: float = 0.25,
                 interval: Optional[int] = None,
                 max_width_ratio: float = 0.75,
                 max_depth: float = 10.0) -> None:
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'CutDepth prob must be in [0, 1], got {prob}.')
        if interval is not None and interval < 1:
            raise ValueError(
                f'CutDepth interval must be >= 1 or None, got {interval}.')
        if max_depth <= 0:
            raise ValueError(
                f'CutDepth max_depth must be positive, got {max_depth}.')
        self.prob = prob
        self.interval = interval
        self.max_width_ratio = max_width_ratio
        self.max_depth = max_depth
        self._count = 0

    def _should_apply(self) -> bool:
        """Decide for this call (counter or coin flip)."""
        if self.interval is not None:
            apply = self._count % self.interval == 0
            self._count += 1
            return apply
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        """Paste the depth stripe (or not).

        Args:
            results (dict): Result dict with ``img`` and ``gt_depth_map``.

        Returns:
            dict: The result dict.
        """
        for key in ('img', 'gt_depth_map'):
            if key not in results:
                raise KeyError(
                    f'CutDepth needs the key "{key}": put it after '
                    'LoadImageFromFile and LoadDepthMap.')
        img = results['img']
        depth = results['gt_depth_map']
        if tuple(img.shape[:2]) != tuple(depth.shape[:2]):
            raise ValueError(
                f'CutDepth: image "{results.get("img_path")}" is '
                f'{img.shape[0]}x{img.shape[1]} but depth map '
                f'"{results.get("depth_map_path")}" is '
                f'{depth.shape[0]}x{depth.shape[1]}.')
        if not self._should_apply():
            return results
        width_total = img.shape[1]
        alpha, beta = np.random.rand(2)
        left = int(alpha * width_total)
        width = int(max((width_total - alpha * width_total) * beta *
                        self.max_width_ratio, 1))
        stripe = np.clip(depth[:, left:left + width] / self.max_depth, 0, 1)
        stripe = stripe * 255.0
        if np.issubdtype(img.dtype, np.integer):
            stripe = np.rint(stripe)
        img = img.copy()
        if img.ndim == 3:
            img[:, left:left + width, :] = stripe[..., None].astype(img.dtype)
        else:
            img[:, left:left + width] = stripe.astype(img.dtype)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, '
                f'interval={self.interval}, '
                f'max_width_ratio={self.max_width_ratio}, '
                f'max_depth={self.max_depth})')
