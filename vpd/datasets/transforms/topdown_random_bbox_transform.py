"""Random shift, scale and rotation of the person box."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from vpd.registry import TRANSFORMS


def _truncated_normal(size: tuple) -> np.ndarray:
    """Standard normal samples truncated to [-1, 1] (rejection)."""
    out = np.random.randn(*size)
    bad = np.abs(out) > 1
    while bad.any():
        out[bad] = np.random.randn(int(bad.sum()))
        bad = np.abs(out) > 1
    return out.astype(np.float32)


@TRANSFORMS.register_module()
class TopdownRandomBBoxTransform(BaseTransform):
    """Jitter the crop: shift, scale and rotate the box.

    With ``t`` drawn from a standard normal truncated to [-1, 1] per
    quantity: the centre moves by ``t * shift_factor * scale`` with
    probability ``shift_prob``; the size is multiplied by ``mean(s) + t *
    half_range(s)`` of ``scale_factor`` with probability ``scale_prob``; the
    rotation is ``t * rotate_factor`` degrees with probability
    ``rotate_prob``. Defaults as mmpose's ``RandomBBoxTransform`` (not
    imported: mmpose is not a dependency, README, Installation notes).

    Required keys: ``bbox_center``, ``bbox_scale``. Modified keys: the same.
    Added keys: ``bbox_rotation`` ``[N]`` (degrees).

    Args:
        shift_factor (float): Defaults to 0.16.
        shift_prob (float): Defaults to 0.3.
        scale_factor (Sequence[float]): ``(min, max)``. Defaults to
            (0.5, 1.5).
        scale_prob (float): Defaults to 1.0.
        rotate_factor (float): Degrees. Defaults to 80.
        rotate_prob (float): Defaults to 0.6.
    """

    def __init__(self,
                 shift_factor: float = 0.16,
                 shift_prob: float = 0.3,
                 scale_factor: Sequence[float] = (0.5, 1.5),
                 scale_prob: float = 1.0,
                 rotate_factor: float = 80.0,
                 rotate_prob: float = 0.6) -> None:
        lo, hi = (float(v) for v in scale_factor)
        if not 0 < lo <= hi:
            raise ValueError('scale_factor must be (min, max) with 0 < min <= '
                             f'max, got {scale_factor}')
        self.shift_factor = float(shift_factor)
        self.shift_prob = float(shift_prob)
        self.scale_factor = (lo, hi)
        self.scale_prob = float(scale_prob)
        self.rotate_factor = float(rotate_factor)
        self.rotate_prob = float(rotate_prob)

    def transform(self, results: dict) -> dict:
        scale = np.asarray(results['bbox_scale'], np.float32)
        n = scale.shape[0]
        t = _truncated_normal((n, 4))
        offset = t[:, :2] * self.shift_factor
        offset *= (np.random.rand(n, 1) < self.shift_prob)
        lo, hi = self.scale_factor
        factor = np.where(np.random.rand(n, 1) < self.scale_prob,
                          (lo + hi) / 2 + t[:, 2:3] * (hi - lo) / 2, 1.0)
        rotate = np.where(np.random.rand(n) < self.rotate_prob,
                          t[:, 3] * self.rotate_factor, 0.0)
        results['bbox_center'] = np.asarray(results['bbox_center'],
                                            np.float32) + offset * scale
        results['bbox_scale'] = (scale * factor).astype(np.float32)
        results['bbox_rotation'] = rotate.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(shift_factor={self.shift_factor}, '
                f'scale_factor={self.scale_factor}, '
                f'rotate_factor={self.rotate_factor})')
