"""A procedural semantic segmentation set in the ADE20K layout, for CPU checks.

Each image is a textured background with a few textured shapes on it. A
class is a shape (disc, square, triangle, ring, diamond, cross, ...) with
its own texture (stripes of a class-specific orientation and frequency)
and hue, jittered per instance, so both local appearance and shape tell the
classes apart. Now and then a small blob of random colour is added and
labelled 0 ("other"), which ADE20K's ``reduce_zero_label`` turns into the
ignore index 255.

Output (what mmseg's ``BaseSegDataset`` / ``ADE20KDataset`` read)::

    out_dir/images/training/synth_00000.jpg       annotations/training/synth_00000.png
    out_dir/images/validation/synth_00000.jpg     annotations/validation/synth_00000.png
    out_dir/meta.json   class names, pixel counts, majority-class baseline

Annotation PNGs are uint8: 0 = other / ignore, ``1..num_classes`` = classes
(class 1 is the background, the majority class). Rendering is vectorised
numpy; everything is determined by ``seed`` (each image by ``(seed, split,
index)``, so adding images does not change the existing ones).

Usage::

    python tools/dataset_converters/make_synthetic_seg.py data/synthetic_seg
    python tools/dataset_converters/make_synthetic_seg.py data/synthetic_seg \\
        --num-train 200 --num-val 40 --size 64 --num-classes 5 --seed 0
"""
from __future__ import annotations

import argparse
import colorsys
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

#: Class names in label order (label ``i + 1`` is ``CLASS_NAMES[i]``). The
#: first one is the background; the others are shapes.
CLASS_NAMES = ('background', 'disc', 'square', 'triangle', 'ring',
               'diamond', 'cross', 'bar')
SHAPES = CLASS_NAMES[1:]
SPLITS = (('training', 0), ('validation', 1))


def class_names(num_classes: int) -> List[str]:
    """The first ``num_classes`` class names (background first)."""
    if not 2 <= num_classes <= len(CLASS_NAMES):
        raise ValueError(f'num_classes must be in [2, {len(CLASS_NAMES)}], '
                         f'got {num_classes}')
    return list(CLASS_NAMES[:num_classes])


def class_palette(num_classes: int) -> List[List[int]]:
    """An RGB colour per class for overlays (evenly spread hues)."""
    pal = []
    for i in range(num_classes):
        if i == 0:
            pal.append([120, 120, 120])
            continue
        r, g, b = colorsys.hsv_to_rgb((i - 1) / max(num_classes - 1, 1),
                                      0.8, 0.95)
        pal.append([int(r * 255), int(g * 255), int(b * 255)])
    return pal


def _class_style(label: int, num_classes: int) -> Dict[str, float]:
    """Fixed appearance of a class: hue, stripe angle, period and contrast.

    Classes differ in texture (period and orientation of the stripes) as
    well as in hue: a randomly initialised VAE encoder (the tiny test
    preset) passes texture on far better than flat colour.
    """
    k = label - 1  # 0 = background
    if k == 0:
        return dict(hue=0.1, sat=0.25, angle=0.25 * np.pi, period=16.0,
                    contrast=0.15)
    return dict(
        hue=(0.08 + 0.83 * k / max(num_classes - 1, 1)) % 1.0,
        sat=0.75,
        angle=np.pi * ((k - 1) * 0.3 % 1.0),
        period=(2.5, 4.0, 6.0, 9.0)[(k - 1) % 4],
        contrast=0.45)


def _shape_mask(shape: str, yy: np.ndarray, xx: np.ndarray, cy: float,
                cx: float, r: float, rot: float) -> np.ndarray:
    """Boolean mask of one shape centred at (cy, cx) with radius r."""
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(rot), np.sin(rot)
    u, v = c * dx + s * dy, -s * dx + c * dy  # rotated coordinates
    if shape == 'disc':
        return dx**2 + dy**2 <= r**2
    if shape == 'square':
        return np.maximum(np.abs(u), np.abs(v)) <= r * 0.8
    if shape == 'triangle':
        # equilateral, vertices on the circle of radius r
        a = np.stack([u, v], -1)
        inside = np.ones(yy.shape, bool)
        for t in (0.0, 2 * np.pi / 3, 4 * np.pi / 3):
            n = np.array([np.cos(t), np.sin(t)])
            inside &= a @ n <= r * 0.5
        return inside
    if shape == 'ring':
        d2 = dx**2 + dy**2
        return (d2 <= r**2) & (d2 >= (0.55 * r)**2)
    if shape == 'diamond':
        return np.abs(u) + np.abs(v) <= r
    if shape == 'cross':
        w = 0.35 * r
        return (((np.abs(u) <= w) & (np.abs(v) <= r))
                | ((np.abs(v) <= w) & (np.abs(u) <= r)))
    if shape == 'bar':
        return (np.abs(u) <= r) & (np.abs(v) <= 0.3 * r)
    raise ValueError(f'unknown shape "{shape}"')


def _texture(rng: np.random.Generator, style: Dict[str, float],
             yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """An RGB float image in [0, 1] with the class texture, jittered."""
    hue = (style['hue'] + rng.uniform(-0.03, 0.03)) % 1.0
    sat = float(np.clip(style['sat'] + rng.uniform(-0.1, 0.1), 0, 1))
    val = rng.uniform(0.6, 0.9)
    base = np.array(colorsys.hsv_to_rgb(hue, sat, val))
    angle = style['angle'] + rng.uniform(-0.15, 0.15)
    period = style['period'] * rng.uniform(0.85, 1.15)
    phase = rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) /
                  period + phase)
    shade = 1.0 - style['contrast'] + style['contrast'] * wave
    return base[None, None, :] * shade[..., None]


def _smooth_noise(rng: np.random.Generator, size: int,
                  cells: int = 4) -> np.ndarray:
    """Low-frequency noise in [-1, 1], ``[size, size]``."""
    coarse = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def render_sample(rng: np.random.Generator, size: int, num_classes: int,
                  max_shapes: int = 4):
    """One image (uint8 BGR) and its annotation (uint8, 0 = other).

    Args:
        rng (np.random.Generator): Random source of this sample.
        size (int): Image side in pixels.
        num_classes (int): Classes incl. background (labels 1..N).
        max_shapes (int): Most shapes per image. Defaults to 4.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``[size, size, 3]`` BGR image and
        ``[size, size]`` label map.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = _texture(rng, _class_style(1, num_classes), yy, xx)
    img = img * (1 + 0.15 * _smooth_noise(rng, size)[..., None])
    label = np.ones((size, size), np.uint8)
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        cls = int(rng.integers(2, num_classes + 1))
        r = rng.uniform(0.14, 0.3) * size
        cy, cx = rng.uniform(0.1, 0.9, 2) * size
        mask = _shape_mask(SHAPES[cls - 2], yy, xx, cy, cx, r,
                           rng.uniform(0, np.pi))
        tex = _texture(rng, _class_style(cls, num_classes), yy, xx)
        img[mask] = tex[mask]
        label[mask] = cls
    if rng.random() < 0.3:  # unlabelled clutter -> ignored
        cy, cx = rng.uniform(0.1, 0.9, 2) * size
        mask = _shape_mask('disc', yy, xx, cy, cx,
                           rng.uniform(0.05, 0.1) * size, 0.0)
        img[mask] = rng.uniform(0, 1, 3)
        label[mask] = 0
    img = img + rng.normal(0, 0.02, img.shape)
    img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    return img[..., ::-1].copy(), label


def majority_baseline(counts: Sequence[int]) -> Dict[str, float]:
    """mIoU / aAcc (in %) of predicting the most frequent class everywhere.

    Args:
        counts (Sequence[int]): Labelled pixels per class (ignore excluded).

    Returns:
        dict: ``mIoU``, ``aAcc`` and the ``majority_class`` index.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    k = int(counts.argmax())
    # IoU of class k = its pixels / all pixels; every other class has 0.
    iou = counts[k] / total
    return dict(mIoU=100.0 * iou / len(counts), aAcc=100.0 * iou,
                majority_class=k)


def make_synthetic_seg(out_dir: str,
                       num_train: int = 200,
                       num_val: int = 40,
                       size: int = 64,
                       num_classes: int = 5,
                       seed: int = 0) -> Dict:
    """Write the synthetic set and return its ``meta.json`` content.

    Args:
        out_dir (str): Output root (ADE20K layout inside).
        num_train (int): Training images. Defaults to 200.
        num_val (int): Validation images. Defaults to 40.
        size (int): Image side. Defaults to 64.
        num_classes (int): Classes incl. background, 2 to 8. Defaults to 5.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: ``classes``, ``palette``, per-split image counts and labelled
        pixel counts per class (label ``i + 1`` -> index ``i``), and the
        validation majority-class baseline.
    """
    names = class_names(num_classes)
    if num_train < 0 or num_val < 0:
        raise ValueError('num_train and num_val must be >= 0')
    if size < 16:
        raise ValueError(f'size must be >= 16, got {size}')
    meta = dict(classes=names, palette=class_palette(num_classes),
                size=size, seed=seed, splits={})
    for split, split_id in SPLITS:
        n = num_train if split == 'training' else num_val
        img_dir = osp.join(out_dir, 'images', split)
        ann_dir = osp.join(out_dir, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        counts = np.zeros(num_classes + 1, np.int64)
        for i in range(n):
            rng = np.random.default_rng([seed, split_id, i])
            img, label = render_sample(rng, size, num_classes)
            name = f'synth_{i:05d}'
            cv2.imwrite(osp.join(img_dir, name + '.jpg'), img,
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(osp.join(ann_dir, name + '.png'), label)
            counts += np.bincount(label.ravel(), minlength=num_classes + 1)
        meta['splits'][split] = dict(
            num_images=n, ignored_pixels=int(counts[0]),
            class_pixels=[int(c) for c in counts[1:]])
    val_counts = meta['splits']['validation']['class_pixels']
    if sum(val_counts):
        meta['val_majority_baseline'] = majority_baseline(val_counts)
    with open(osp.join(out_dir, 'meta.json'), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=2)
    return meta


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Write a procedural segmentation set in the ADE20K '
        'folder layout (textured shapes).')
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=40)
    parser.add_argument('--size', type=int, default=64,
                        help='image side in pixels (default: 64)')
    parser.add_argument('--num-classes', type=int, default=5,
                        help='classes incl. background, 2-8 (default: 5)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; prints a summary."""
    args = parse_args(argv)
    meta = make_synthetic_seg(args.out_dir, args.num_train, args.num_val,
                              args.size, args.num_classes, args.seed)
    print(f'Wrote {args.num_train} training and {args.num_val} validation '
          f'images ({args.size}x{args.size}, classes {meta["classes"]}) to '
          f'{osp.abspath(args.out_dir)}')
    if 'val_majority_baseline' in meta:
        b = meta['val_majority_baseline']
        print(f'Validation majority-class baseline: mIoU {b["mIoU"]:.2f}, '
              f'aAcc {b["aAcc"]:.2f}')
    return 0


if __name__ == '__main__':
    # vpd (and torch) is imported only if there is an error to report
    _argv = sys.argv[1:]
    try:
        _status = main([a for a in _argv if a != '--debug'])
    except Exception as _exc:  # noqa: BLE001 - one line for user errors
        from vpd.utils.cli import handle_tool_error
        handle_tool_error(_exc, '--debug' in _argv)
    sys.exit(_status if isinstance(_status, int) else 0)
