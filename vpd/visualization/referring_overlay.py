"""Drawing a referring-segmentation mask over its image."""
from typing import Optional, Sequence

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


def caption_strip(text: str, width: int,
                  background: Sequence[int] = (32, 32, 32),
                  colour: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """A strip of ``width`` pixels with ``text`` written on it.

    The font is scaled (OpenCV Hershey simplex, 0.3 to 1.0) so the text
    fits; text still too long at the smallest scale is cut with "...".

    Args:
        text (str): The caption (e.g. a referring sentence).
        width (int): Strip width in pixels.
        background (Sequence[int]): RGB of the strip.
        colour (Sequence[int]): RGB of the text.

    Returns:
        np.ndarray: ``[h, width, 3]`` uint8 RGB, ``h`` = text height + 8.
    """
    import cv2
    font = cv2.FONT_HERSHEY_SIMPLEX
    text = ' '.join(str(text).split())
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = min(1.0, max(0.3, (width - 6) / max(tw, 1)))
    while text and cv2.getTextSize(text, font, scale, 1)[0][0] > width - 6:
        text = text[:-4] + '...' if len(text) > 4 else ''
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    strip = np.empty((th + base + 8, int(width), 3), np.uint8)
    strip[:] = np.asarray(background, np.uint8)
    cv2.putText(strip, text, (3, th + 4), font, scale,
                tuple(int(c) for c in colour), 1, cv2.LINE_AA)
    return strip


def referring_row(rgb: np.ndarray, pred: np.ndarray, text: str,
                  gt: Optional[np.ndarray] = None,
                  opacity: float = 0.5) -> np.ndarray:
    """One picture of a referring prediction: the sentence over
    ``input | prediction | ground truth`` (the last when ``gt`` is given).

    Args:
        rgb (np.ndarray): ``[H, W, 3]`` uint8 RGB image (resized to the
            prediction's size when it differs).
        pred (np.ndarray): ``[H, W]`` predicted mask, nonzero = the object.
        text (str): The sentence.
        gt (np.ndarray, optional): ``[H, W]`` ground-truth mask (resized with
            nearest neighbour when its size differs).
        opacity (float): Tint weight. Defaults to 0.5.

    Returns:
        np.ndarray: ``[h + H, 2W or 3W, 3]`` uint8 RGB.
    """
    import cv2
    h, w = pred.shape[:2]
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    if rgb.shape[:2] != (h, w):
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    panels = [rgb, draw_referring_mask(rgb, pred, opacity=opacity)]
    if gt is not None:
        panels.append(draw_referring_mask(rgb, gt, colour=(0, 200, 80),
                                          opacity=opacity))
    row = np.concatenate(panels, axis=1)
    return np.concatenate([caption_strip(text, row.shape[1]), row], axis=0)
