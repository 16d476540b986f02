"""Person box -> centre and (padded) size, for the top-down crop."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from vpd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class TopdownGetBBoxCenterScale(BaseTransform):
    """``bbox`` (x1, y1, x2, y2) -> ``bbox_center`` and ``bbox_scale``.

    ``bbox_scale`` is the box size ``(w, h)`` times ``padding`` (1.25: the
    crop shows some context around the person), as mmpose's
    ``GetBBoxCenterScale`` (not imported: mmpose is not a dependency,
    README, Installation notes).

    Required keys: ``bbox`` ``[N, 4]``. Added keys: ``bbox_center``
    ``[N, 2]``, ``bbox_scale`` ``[N, 2]`` (pixels).

    Args:
        padding (float): Size multiplier. Defaults to 1.25.
    """

    def __init__(self, padding: float = 1.25) -> None:
        if not padding > 0:
            raise ValueError(f'padding must be > 0, got {padding}')
        self.padding = float(padding)

    def transform(self, results: dict) -> dict:
        bbox = np.asarray(results['bbox'], dtype=np.float32).reshape(-1, 4)
        results['bbox_center'] = (bbox[:, :2] + bbox[:, 2:]) * 0.5
        results['bbox_scale'] = (bbox[:, 2:] - bbox[:, :2]) * self.padding
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(padding={self.padding})'
