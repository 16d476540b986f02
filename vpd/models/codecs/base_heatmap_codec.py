"""Shared machinery of the Gaussian heatmap codecs (UDP and MSRA).

Replaces ``mmpose.codecs`` (``UDPHeatmap``, ``MSRAHeatmap`` and their
helpers): mmpose 1.3.2 cannot be a dependency of this project (its
``xtcocotools`` requirement does not install on numpy 2 without manual
steps; see the README, Installation notes), and the codecs are small. The
conventions are mmpose's, so configs and numbers carry over:

* sizes are ``(w, h)``; keypoints are ``(x, y)`` in crop pixels with pixel
  centres at integers (the crop's ``x = 0`` is the centre of its first
  column);
* a heatmap is an unnormalised Gaussian of ``sigma`` heatmap pixels, cut
  to a ``(6 sigma + 1)`` window around the rounded centre;
* a keypoint with visibility < 0.5, or whose window lies entirely outside
  the heatmap, gets weight 0 and an empty channel.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

Size = Tuple[int, int]


def _as_size(value: Sequence[int], name: str) -> Size:
    try:
        w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be (w, h), got {value!r}') from None
    if w < 2 or h < 2:
        raise ValueError(f'{name} must be at least (2, 2), got {value!r}')
    return w, h


class BaseHeatmapCodec:
    """Encode keypoints of one instance as ``K`` Gaussian heatmaps and back.

    Subclasses define the crop <-> heatmap coordinate map
    (:meth:`to_heatmap` / :meth:`to_input`), where the Gaussian is centred
    (:meth:`gaussian_centre`) and the sub-pixel refinement of the arg-max
    (:meth:`refine`).

    Args:
        input_size (tuple[int, int]): Crop size ``(w, h)`` in pixels.
        heatmap_size (tuple[int, int]): Heatmap size ``(W, H)``.
        sigma (float): Gaussian standard deviation in heatmap pixels.
            Defaults to 2.0.

    Attributes:
        flip_shift (bool): Whether a heatmap flipped back at test time must
            be shifted one pixel right to line up with the un-flipped one
            (mmpose's ``shift_heatmap``); set by the subclass.
        use_udp (bool): The crop is taken with the UDP affine transform
            (``TopdownAffine(use_udp=True)``); set by the subclass.
    """

    flip_shift: bool = False
    use_udp: bool = False

    def __init__(self,
                 input_size: Sequence[int],
                 heatmap_size: Sequence[int],
                 sigma: float = 2.0) -> None:
        self.input_size = _as_size(input_size, 'input_size')
        self.heatmap_size = _as_size(heatmap_size, 'heatmap_size')
        if not sigma > 0:
            raise ValueError(f'sigma must be > 0, got {sigma}')
        self.sigma = float(sigma)
        self.radius = 3 * self.sigma

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size={self.input_size}, '
                f'heatmap_size={self.heatmap_size}, sigma={self.sigma})')

    # ------------------------------------------------------------------
    # coordinate conventions (overridden)
    def to_heatmap(self, xy: np.ndarray) -> np.ndarray:
        """Crop pixels -> heatmap pixels, ``[..., 2]``."""
        raise NotImplementedError(
            f'{type(self).__name__} must define to_heatmap (UDPHeatmap, '
            'MSRAHeatmap)')

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Heatmap pixels -> crop pixels, ``[..., 2]``."""
        raise NotImplementedError(
            f'{type(self).__name__} must define to_input (UDPHeatmap, '
            'MSRAHeatmap)')

    def gaussian_centre(self, mu: np.ndarray) -> np.ndarray:
        """Where the Gaussian of heatmap position ``mu`` ``[K, 2]`` peaks."""
        raise NotImplementedError(
            f'{type(self).__name__} must define gaussian_centre')

    def refine(self, locs: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
        """Sub-pixel refinement of the integer arg-max ``locs`` ``[K, 2]``."""
        return locs

    # ------------------------------------------------------------------
    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None
               ) -> Dict[str, np.ndarray]:
        """Heatmaps and keypoint weights of one instance.

        Args:
            keypoints (np.ndarray): ``[K, 2]`` or ``[1, K, 2]`` crop pixels.
            keypoints_visible (np.ndarray, optional): ``[K]`` or ``[1, K]``;
                keypoints with a value < 0.5 are not encoded. Defaults to
                all visible.

        Returns:
            dict: ``heatmaps`` ``[K, H, W]`` float32 in [0, 1] and
            ``keypoint_weights`` ``[1, K]`` float32 (the visibility, 0 where
            nothing was drawn).
        """
        kpts = np.asarray(keypoints, dtype=np.float32)
        if kpts.ndim == 3:
            if kpts.shape[0] != 1:
                raise ValueError('A top-down heatmap codec encodes one '
                                 f'instance, got keypoints {kpts.shape}')
            kpts = kpts[0]
        if kpts.ndim != 2 or kpts.shape[1] < 2:
            raise ValueError(f'keypoints must be [K, 2], got {kpts.shape}')
        k = kpts.shape[0]
        if keypoints_visible is None:
            vis = np.ones(k, dtype=np.float32)
        else:
            vis = np.asarray(keypoints_visible, dtype=np.float32).reshape(-1)
            if vis.shape[0] != k:
                raise ValueError(f'keypoints_visible has {vis.shape[0]} '
                                 f'entries for {k} keypoints')
        w, h = self.heatmap_size
        mu = self.to_heatmap(kpts[:, :2])
        rounded = np.floor(mu + 0.5)
        centre = self.gaussian_centre(mu)
        r = self.radius
        inside = ~((rounded[:, 0] - r >= w) | (rounded[:, 1] - r >= h) |
                   (rounded[:, 0] + r + 1 < 0) | (rounded[:, 1] + r + 1 < 0))
        weights = np.where((vis >= 0.5) & inside, vis, 0.0).astype(np.float32)
        xs = np.arange(w, dtype=np.float32)
        ys = np.arange(h, dtype=np.float32)
        gx = np.exp(-(xs[None] - centre[:, :1])**2 / (2 * self.sigma**2))
        gy = np.exp(-(ys[None] - centre[:, 1:])**2 / (2 * self.sigma**2))
        gx *= np.abs(xs[None] - rounded[:, :1]) <= r
        gy *= np.abs(ys[None] - rounded[:, 1:]) <= r
        heatmaps = gy[:, :, None] * gx[:, None, :]
        heatmaps *= (weights > 0)[:, None, None]
        return dict(heatmaps=heatmaps.astype(np.float32),
                    keypoint_weights=weights[None])

    def decode(self, heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints of one instance from its heatmaps.

        Args:
            heatmaps (np.ndarray): ``[K, H, W]``.

        Returns:
            tuple: ``keypoints`` ``[K, 2]`` (crop pixels) and ``scores``
            ``[K]`` (the heatmap maxima).
        """
        hm = np.asarray(heatmaps, dtype=np.float32)
        if hm.ndim != 3:
            raise ValueError(f'heatmaps must be [K, H, W], got {hm.shape}')
        k, h, w = hm.shape
        if (w, h) != self.heatmap_size:
            raise ValueError(f'heatmaps are {w}x{h} (W x H) but the codec '
                             f'expects heatmap_size {self.heatmap_size}')
        flat = hm.reshape(k, -1)
        idx = flat.argmax(axis=1)
        scores = flat[np.arange(k), idx]
        locs = np.stack([idx % w, idx // w], axis=1).astype(np.float32)
        locs = self.refine(locs, hm)
        return self.to_input(locs).astype(np.float32), scores

    def batch_decode(self, heatmaps: torch.Tensor
                     ) -> Tuple[np.ndarray, np.ndarray]:
        """:meth:`decode` of a batch ``[B, K, H, W]``.

        Returns:
            tuple: ``keypoints`` ``[B, K, 2]`` and ``scores`` ``[B, K]``.
        """
        hm = heatmaps.detach().float().cpu().numpy()
        out = [self.decode(h) for h in hm]
        return (np.stack([o[0] for o in out]), np.stack([o[1] for o in out]))

    def flip_back(self, heatmaps: torch.Tensor, flip_indices: Sequence[int],
                  shift: Optional[bool] = None) -> torch.Tensor:
        """Heatmaps of a horizontally flipped crop, in the un-flipped frame.

        Mirrors the maps, swaps left/right channels by ``flip_indices`` and,
        if ``shift`` (default :attr:`flip_shift`), moves them one pixel
        right, as mmpose's ``flip_heatmaps(flip_mode='heatmap')``.

        Args:
            heatmaps (Tensor): ``[B, K, H, W]``.
            flip_indices (Sequence[int]): ``K`` entries, the mirror partner
                of each keypoint.
            shift (bool, optional): Defaults to :attr:`flip_shift`.
        """
        flip_indices = list(flip_indices)
        if len(flip_indices) != heatmaps.shape[1]:
            raise ValueError(f'flip_indices has {len(flip_indices)} entries '
                             f'for {heatmaps.shape[1]} heatmap channels')
        out = heatmaps.flip(-1)[:, flip_indices]
        if self.flip_shift if shift is None else shift:
            out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
        return out
