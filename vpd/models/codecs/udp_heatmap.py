"""UDP heatmaps (Huang et al., "The Devil is in the Details", CVPR 2020)."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from vpd.registry import TASK_UTILS
from .base_heatmap_codec import BaseHeatmapCodec


@TASK_UTILS.register_module()
class UDPHeatmap(BaseHeatmapCodec):
    """Unbiased-data-processing Gaussian heatmaps, as mmpose's ``UDPHeatmap``.

    The crop's pixel grid and the heatmap's share their end points: crop
    pixel ``x`` is heatmap pixel ``x * (W - 1) / (w - 1)``, the Gaussian is
    centred on the exact (sub-pixel) position, and decoding refines the
    arg-max by one Newton step on the log of the blurred heatmap
    (DARK-UDP: Zhang et al., CVPR 2020, in the form of mmpose
    ``refine_keypoints_dark_udp``). Pair it with
    ``TopdownAffine(use_udp=True)``; flip test needs no heatmap shift.
    ViTPose's COCO setting: ``input_size=(192, 256)``,
    ``heatmap_size=(48, 64)``, ``sigma=2`` (mmpose
    ``td-hm_ViTPose-base_8xb64-210e_coco-256x192.py``).

    Written here instead of importing mmpose: see
    :mod:`vpd.models.codecs.base_heatmap_codec`.

    Args:
        input_size (tuple[int, int]): Crop ``(w, h)``.
        heatmap_size (tuple[int, int]): Heatmap ``(W, H)``.
        sigma (float): Gaussian sigma in heatmap pixels. Defaults to 2.
        blur_kernel_size (int): Odd Gaussian blur kernel of the refinement
            (11 for sigma 2, 17 for sigma 3). Defaults to 11.
    """

    flip_shift = False
    use_udp = True

    def __init__(self,
                 input_size: Sequence[int],
                 heatmap_size: Sequence[int],
                 sigma: float = 2.0,
                 blur_kernel_size: int = 11) -> None:
        super().__init__(input_size, heatmap_size, sigma)
        if blur_kernel_size < 1 or blur_kernel_size % 2 == 0:
            raise ValueError('blur_kernel_size must be a positive odd '
                             f'number, got {blur_kernel_size}')
        self.blur_kernel_size = int(blur_kernel_size)
        self._scale = ((np.array(self.input_size, np.float32) - 1) /
                       (np.array(self.heatmap_size, np.float32) - 1))

    def to_heatmap(self, xy: np.ndarray) -> np.ndarray:
        return xy / self._scale

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        return xy * self._scale

    def gaussian_centre(self, mu: np.ndarray) -> np.ndarray:
        return mu

    def refine(self, locs: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
        """One Newton step on ``log(blur(heatmap))`` at the arg-max.

        Central differences on the edge-padded map; the Hessian gets
        ``eps * I`` so that a flat map does not divide by zero.
        """
        k, h, w = heatmaps.shape
        ks = self.blur_kernel_size
        border = ks // 2
        logs = np.empty((k, h + 2, w + 2), dtype=np.float32)
        for i in range(k):
            peak = heatmaps[i].max()
            padded = np.zeros((h + 2 * border, w + 2 * border), np.float32)
            padded[border:border + h, border:border + w] = heatmaps[i]
            blurred = cv2.GaussianBlur(padded, (ks, ks), 0)
            blurred = blurred[border:border + h, border:border + w]
            bmax = blurred.max()
            if bmax > 0:
                blurred = blurred * (peak / bmax)
            logs[i] = np.pad(np.log(np.clip(blurred, 1e-3, 50.0)), 1,
                             mode='edge')
        x = locs[:, 0].astype(np.int64) + 1
        y = locs[:, 1].astype(np.int64) + 1
        n = np.arange(k)

        def at(dy: int, dx: int) -> np.ndarray:
            return logs[n, y + dy, x + dx]

        c = at(0, 0)
        dx = 0.5 * (at(0, 1) - at(0, -1))
        dy = 0.5 * (at(1, 0) - at(-1, 0))
        dxx = at(0, 1) - 2 * c + at(0, -1)
        dyy = at(1, 0) - 2 * c + at(-1, 0)
        dxy = 0.5 * (at(1, 1) - at(0, 1) - at(1, 0) + 2 * c - at(0, -1) -
                     at(-1, 0) + at(-1, -1))
        hess = np.stack([np.stack([dxx, dxy], -1),
                         np.stack([dxy, dyy], -1)], -2)
        hess = hess + np.finfo(np.float32).eps * np.eye(2, dtype=np.float32)
        grad = np.stack([dx, dy], -1)[..., None]
        step = np.linalg.solve(hess, grad)[..., 0]
        return locs - step.astype(np.float32)
