"""Cut the person crop out of the image with an affine warp."""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from vpd.registry import TRANSFORMS


def get_warp_matrix(center: Sequence[float], scale: Sequence[float],
                    rotation: float, output_size: Sequence[int],
                    use_udp: bool = True) -> np.ndarray:
    """The 2x3 affine map from image pixels to crop pixels.

    The box centre goes to the crop centre, the box size ``scale`` to the
    crop size, and the box is rotated by ``rotation`` degrees about its
    centre. UDP (Huang et al., CVPR 2020) maps pixel *centres*: the box
    width spans ``w - 1`` crop pixels and its centre goes to
    ``((w - 1) / 2, (h - 1) / 2)``; the classic (MSRA) warp maps the box
    width to ``w`` pixels and its centre to ``(w / 2, h / 2)``. The formulas
    are those of mmpose's ``get_udp_warp_matrix`` / ``get_warp_matrix``.

    Args:
        center (Sequence[float]): Box centre ``(x, y)``, image pixels.
        scale (Sequence[float]): Box size ``(w, h)``, image pixels.
        rotation (float): Degrees.
        output_size (Sequence[int]): Crop ``(w, h)``.
        use_udp (bool): UDP or classic. Defaults to True.

    Returns:
        np.ndarray: ``[2, 3]`` float32.
    """
    w, h = (float(v) for v in output_size)
    cx, cy = (float(v) for v in center)
    sw, sh = (float(v) for v in scale)
    if sw <= 0 or sh <= 0:
        raise ValueError(f'box size must be positive, got {tuple(scale)}')
    if use_udp:
        sx, sy = (w - 1) / sw, (h - 1) / sh
        ox, oy = (w - 1) / 2, (h - 1) / 2
    else:
        sx, sy = w / sw, h / sh
        ox, oy = w / 2, h / 2
    a = math.radians(rotation)
    cos, sin = math.cos(a), math.sin(a)
    mat = np.array([[sx * cos, -sx * sin, 0.0], [sy * sin, sy * cos, 0.0]],
                   dtype=np.float64)
    mat[0, 2] = ox - mat[0, 0] * cx - mat[0, 1] * cy
    mat[1, 2] = oy - mat[1, 0] * cx - mat[1, 1] * cy
    return mat.astype(np.float32)


@TRANSFORMS.register_module()
class TopdownAffine(BaseTransform):
    """Warp the box region to the model's input size (``cv2.warpAffine``).

    The box is first widened or heightened to the input's aspect ratio
    (never shrunk), then warped with :func:`get_warp_matrix` (bilinear,
    black border). Keypoints are mapped with the same matrix into
    ``transformed_keypoints``. The matrix is stored as ``warp_mat`` so that
    predictions can be mapped back exactly (rotation included). As mmpose's
    ``TopdownAffine`` (not imported: mmpose is not a dependency, README,
    Installation notes). albumentations' ``Affine`` draws its own
    whole-image parameters and cannot be told to cut a given rotated box,
    hence ``cv2`` directly.

    Required keys: ``img``, ``bbox_center``, ``bbox_scale`` (one instance);
    optional ``bbox_rotation``, ``keypoints``. Modified keys: ``img``,
    ``img_shape``, ``bbox_scale``. Added keys: ``transformed_keypoints``,
    ``input_size`` ``(w, h)``, ``input_center``, ``input_scale``,
    ``input_rotation``, ``warp_mat``.

    Args:
        input_size (Sequence[int]): Crop ``(w, h)``, e.g. (192, 256).
        use_udp (bool): UDP warp (pair with ``UDPHeatmap``) or classic
            (``MSRAHeatmap``). Defaults to True.
    """

    def __init__(self, input_size: Sequence[int], use_udp: bool = True) -> None:
        w, h = (int(v) for v in input_size)
        if w < 1 or h < 1:
            raise ValueError(f'input_size must be (w, h) > 0, got '
                             f'{input_size}')
        self.input_size = (w, h)
        self.use_udp = bool(use_udp)

    @staticmethod
    def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
        """Grow ``[N, 2]`` sizes ``(w, h)`` to ``w / h == aspect_ratio``."""
        w, h = scale[:, :1], scale[:, 1:]
        return np.where(w > h * aspect_ratio,
                        np.hstack([w, w / aspect_ratio]),
                        np.hstack([h * aspect_ratio, h])).astype(np.float32)

    def transform(self, results: dict) -> dict:
        w, h = self.input_size
        centers = np.asarray(results['bbox_center'], np.float32)
        if centers.shape[0] != 1:
            raise ValueError('TopdownAffine crops one person per sample, got '
                             f'{centers.shape[0]} boxes')
        scale = self.fix_aspect_ratio(
            np.asarray(results['bbox_scale'], np.float32), w / h)
        results['bbox_scale'] = scale
        rotation = float(np.asarray(results.get('bbox_rotation',
                                                [0.0])).reshape(-1)[0])
        mat = get_warp_matrix(centers[0], scale[0], rotation, (w, h),
                              self.use_udp)
        results['img'] = cv2.warpAffine(results['img'], mat, (w, h),
                                        flags=cv2.INTER_LINEAR)
        results['img_shape'] = (h, w)
        if results.get('keypoints') is not None:
            kpts = np.asarray(results['keypoints'], np.float32)
            results['transformed_keypoints'] = (
                kpts[..., :2] @ mat[:, :2].T + mat[:, 2]).astype(np.float32)
        results['input_size'] = (w, h)
        results['input_center'] = centers[0].copy()
        results['input_scale'] = scale[0].copy()
        results['input_rotation'] = rotation
        results['warp_mat'] = mat
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size={self.input_size}, '
                f'use_udp={self.use_udp})')
