"""MSRA heatmaps (Xiao et al., "Simple Baselines", ECCV 2018)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from vpd.registry import TASK_UTILS
from .base_heatmap_codec import BaseHeatmapCodec


@TASK_UTILS.register_module()
class MSRAHeatmap(BaseHeatmapCodec):
    """Integer-centred Gaussian heatmaps, as mmpose's ``MSRAHeatmap``.

    Crop pixel ``x`` is heatmap pixel ``x * W / w``; the Gaussian is centred
    on the rounded position; decoding moves the arg-max a quarter pixel
    towards the larger neighbour. Pair it with
    ``TopdownAffine(use_udp=False)``; the flip test shifts the flipped-back
    heatmaps one pixel right (mmpose ``shift_heatmap=True``).

    Written here instead of importing mmpose: see
    :mod:`vpd.models.codecs.base_heatmap_codec`.

    Args:
        input_size (tuple[int, int]): Crop ``(w, h)``.
        heatmap_size (tuple[int, int]): Heatmap ``(W, H)``.
        sigma (float): Gaussian sigma in heatmap pixels. Defaults to 2.
    """

    flip_shift = True
    use_udp = False

    def __init__(self,
                 input_size: Sequence[int],
                 heatmap_size: Sequence[int],
                 sigma: float = 2.0) -> None:
        super().__init__(input_size, heatmap_size, sigma)
        self._scale = (np.array(self.input_size, np.float32) /
                       np.array(self.heatmap_size, np.float32))

    def to_heatmap(self, xy: np.ndarray) -> np.ndarray:
        return xy / self._scale

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        return xy * self._scale

    def gaussian_centre(self, mu: np.ndarray) -> np.ndarray:
        return np.floor(mu + 0.5)

    def refine(self, locs: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
        """Quarter-pixel step towards the larger horizontal/vertical
        neighbour (none at the border)."""
        k, h, w = heatmaps.shape
        x = locs[:, 0].astype(np.int64)
        y = locs[:, 1].astype(np.int64)
        n = np.arange(k)
        xin = (x > 0) & (x < w - 1)
        yin = (y > 0) & (y < h - 1)
        xr, xl = np.clip(x + 1, 0, w - 1), np.clip(x - 1, 0, w - 1)
        yd, yu = np.clip(y + 1, 0, h - 1), np.clip(y - 1, 0, h - 1)
        dx = np.where(xin, heatmaps[n, y, xr] - heatmaps[n, y, xl], 0.0)
        dy = np.where(yin, heatmaps[n, yd, x] - heatmaps[n, yu, x], 0.0)
        return locs + 0.25 * np.stack([np.sign(dx), np.sign(dy)],
                                      1).astype(np.float32)
