"""CutDepth: paste a vertical stripe of the depth map into the image."""
from __future__ import annotations

from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from vpd.registry import TRANSFORMS

DEPTH_VALUES = ('raw', 'scaled')


@TRANSFORMS.register_module()
class CutDepth(BaseTransform):
    """Replace a full-height vertical stripe of the image by the depth map.

    The stripe geometry follows the reference (``wl-zhao/VPD`` and
    ``fudan-zvg/meta-prompts`` ``depth/dataset/base_dataset.py``,
    ``BaseDataset.augment_training_data``, from GLPDepth): with
    ``a, b ~ U(0, 1)``, ``left = int(a * W)`` and
    ``width = int(max((W - a * W) * b * r, 1))`` where
    ``r = max_width_ratio`` (0.75). Put it before the flip, crop and
    photometric transforms, as the reference does.

    **Which samples** (one of):

    - ``interval=N`` (the default, ``N = 4``): every ``N``-th call of this
      transform instance, the first call included. That is the reference's
      ``self.count % 4 == 0`` counter on the dataset object: each dataloader
      worker holds its own copy, so it is every 4th sample *of a worker*,
      and the count restarts with every epoch when the workers are not
      persistent (the official recipes' ``persistent_workers=False``).
    - ``prob=p``: with probability ``p`` (numpy's generator, which mmengine
      seeds per worker); mmseg 1.2.2's ``RandomDepthMix`` uses ``p = 0.25``.

    **Which values** (``depth_values``):

    - ``'raw'`` (the default, as the reference and mmseg): the depth as
      stored in the file, ``gt_depth_map / depth_rescale_factor``
      (millimetres for NYU, metres x 256 for KITTI; the integers of the
      depth PNG, recovered exactly from metres), written into the image.
      Into a uint8 image this keeps the integer part modulo 256 (what the
      reference's numpy assignment of float32 depth into its uint8 array
      does, e.g. 1000 mm -> 232); a float image gets the raw values.
    - ``'scaled'`` (this project's variant, what the CutDepth paper
      describes): ``clip(depth / max_depth, 0, 1) * 255``, rounded for
      integer images.

    Required keys: ``img`` (HxWx3 or HxW), ``gt_depth_map`` (metres, HxW)
    and, for ``'raw'``, ``depth_rescale_factor`` (set by
    :class:`LoadDepthMap`). Modified keys: ``img``.

    Args:
        prob (float, optional): Probability of applying the stripe. Give
            ``prob`` or ``interval``, not both. Defaults to None.
        interval (int, optional): Apply on every ``interval``-th call.
            Defaults to None, meaning 4 when ``prob`` is not given either.
        depth_values (str): ``'raw'`` or ``'scaled'``. Defaults to
            ``'raw'``.
        max_width_ratio (float): ``r`` above. Defaults to 0.75.
        max_depth (float): Depth (metres) mapped to 255 by ``'scaled'``: 10
            for NYU, 80 for KITTI. Defaults to 10.0.

    Raises:
        ValueError: ``prob`` outside [0, 1], ``interval`` < 1, both given,
            an unknown ``depth_values`` or ``max_depth <= 0``.
    """

    def __init__(self,
                 prob: Optional[float] = None,
                 interval: Optional[int] = None,
                 depth_values: str = 'raw',
                 max_width_ratio: float = 0.75,
                 max_depth: float = 10.0) -> None:
        super().__init__()
        if prob is not None and interval is not None:
            raise ValueError(
                f'CutDepth takes prob ({prob}) or interval ({interval}), '
                'not both.')
        if prob is not None and not 0.0 <= prob <= 1.0:
            raise ValueError(f'CutDepth prob must be in [0, 1], got {prob}.')
        if interval is not None and interval < 1:
            raise ValueError(
                f'CutDepth interval must be >= 1 or None, got {interval}.')
        if depth_values not in DEPTH_VALUES:
            raise ValueError(f'CutDepth depth_values must be one of '
                             f'{DEPTH_VALUES}, got "{depth_values}".')
        if max_depth <= 0:
            raise ValueError(
                f'CutDepth max_depth must be positive, got {max_depth}.')
        if prob is None and interval is None:
            interval = 4
        self.prob = prob
        self.interval = interval
        self.depth_values = depth_values
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

    def _stripe_values(self, depth: np.ndarray, results: dict,
                       dtype: np.dtype) -> np.ndarray:
        """The pixel values written for a depth stripe (metres)."""
        if self.depth_values == 'scaled':
            stripe = np.clip(depth / self.max_depth, 0, 1) * 255.0
            if np.issubdtype(dtype, np.integer):
                stripe = np.rint(stripe)
            return stripe.astype(dtype)
        factor = results.get('depth_rescale_factor')
        if factor is None:
            raise KeyError(
                'CutDepth(depth_values="raw") needs "depth_rescale_factor" '
                '(the stored depth unit) in the results: put it after '
                'LoadDepthMap, or use depth_values="scaled".')
        raw = depth.astype(np.float64) / float(factor)
        # the stored values are integers (uint16 PNGs); undo the float32
        # round trip through metres (1236.9999 -> 1237), keep real fractions
        near = np.rint(raw)
        raw = np.where(np.abs(raw - near) < 1e-2, near, raw)
        if dtype == np.uint8:
            # numpy's float -> uint8 cast in the reference: integer part,
            # low 8 bits (written out so no platform-defined cast is used)
            return (np.trunc(raw).astype(np.int64) & 0xFF).astype(np.uint8)
        return raw.astype(dtype)

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
        stripe = self._stripe_values(depth[:, left:left + width], results,
                                     img.dtype)
        img = img.copy()
        if img.ndim == 3:
            img[:, left:left + width, :] = stripe[..., None]
        else:
            img[:, left:left + width] = stripe
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, '
                f'interval={self.interval}, '
                f'depth_values={self.depth_values!r}, '
                f'max_width_ratio={self.max_width_ratio}, '
                f'max_depth={self.max_depth})')
