"""Segmentation labels drawn over the image, for people to look at."""
from typing import Sequence

import numpy as np

__all__ = ['default_palette', 'overlay_segmentation']


def default_palette(num_classes: int) -> np.ndarray:
    """A fixed pseudo-random RGB palette (seed 42).

    Args:
        num_classes (int): Number of colours.

    Returns:
        np.ndarray: ``[num_classes, 3]`` uint8.
    """
    rng = np.random.RandomState(42)
    return rng.randint(0, 256, size=(num_classes, 3), dtype=np.uint8)


def overlay_segmentation(rgb: np.ndarray, labels: np.ndarray,
                         palette: Sequence[Sequence[int]],
                         opacity: float = 0.5,
                         ignore_index: int = 255) -> np.ndarray:
    """Blend class colours over an RGB image.

    Args:
        rgb (np.ndarray): ``[H, W, 3]`` uint8 image.
        labels (np.ndarray): ``[H, W]`` class ids.
        palette (Sequence): One RGB colour per class.
        opacity (float): Weight of the colours, 0..1. Defaults to 0.5.
        ignore_index (int): Label left uncoloured. Defaults to 255.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8.

    Raises:
        ValueError: ``labels`` is not the size of ``rgb``.
    """
    if labels.shape != rgb.shape[:2]:
        raise ValueError(f'overlay_segmentation: labels {labels.shape} and '
                         f'image {rgb.shape[:2]} differ in size')
    palette = np.asarray(palette, dtype=np.uint8)
    valid = (labels >= 0) & (labels < len(palette)) & (labels != ignore_index)
    colour = np.zeros_like(rgb)
    colour[valid] = palette[labels[valid]]
    out = rgb.astype(np.float32)
    out[valid] = (1 - opacity) * out[valid] + opacity * colour[valid]
    return out.clip(0, 255).astype(np.uint8)
