"""Drawing a referring-segmentation mask over its image."""
from typing import Sequence

import numpy as np


def draw_referring_mask(rgb: np.ndarray,
                        mask: np.ndarray,
                        colour: Sequence[int] = (255, 64, 0),
                        opacity: float = 0.5,
                        contour: bool = True) -> np.ndarray:
    """Tint the referred object and outline it.

    Args:
        rgb (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        mask (np.ndarray): ``[H, W]`` mask, nonzero = the object (resized
            with nearest neighbour if its size differs).
        colour (Sequence[int]): RGB of the tint and outline.
        opacity (float): Weight of the tint, 0..1. Defaults to 0.5.
        contour (bool): Draw the object's outline (2 px). Defaults to True.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 RGB.
    """
    import cv2
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f'opacity must be in [0, 1], got {opacity}')
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    mask = (np.asarray(mask) > 0).astype(np.uint8)
    if mask.shape != rgb.shape[:2]:
        mask = cv2.resize(mask, (rgb.shape[1], rgb.shape[0]),
                          interpolation=cv2.INTER_NEAREST)
    out = rgb.astype(np.float32)
    tint = np.asarray(colour, np.float32)
    on = mask.astype(bool)
    out[on] = (1 - opacity) * out[on] + opacity * tint
    out = out.clip(0, 255).astype(np.uint8)
    if contour and on.any():
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour),
                         2)
    return out
