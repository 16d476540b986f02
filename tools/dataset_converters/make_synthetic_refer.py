"""A procedural referring-segmentation set in the REFER layout, for CPU checks.

Each image shows a few flat-coloured shapes (circle, square, triangle in
red, green, blue or yellow), one per column (left, middle, right) at a
random height and size, on a noisy grey background. Every shape is a
referred object; its sentences single it out by colour, shape and / or
position among the shapes of its image ("the blue square", "the shape on
the left", "the red circle in the middle"), each time with a combination
of attributes that no other shape of the image shares. Every shape of an
image is referred to, so the image alone never tells which one is meant:
a model must read the sentence.

Output (what :class:`vpd.datasets.ReferDataset` reads, with
``dataset='synthetic'``, ``split_by='unc'``)::

    out_dir/images/mscoco/images/train2014/synth_000000000001.jpg ...
    out_dir/synthetic/instances.json   COCO images / annotations (polygons)
    out_dir/synthetic/refs(unc).p      refs, splits "train" and "val"
    out_dir/synthetic/meta.json        counts and the validation baselines

Baselines (validation, every sentence, original resolution; computed here
from the written masks): all foreground, all background, and the mask of
the largest shape of the image whatever the sentence says. Everything is
determined by ``seed`` (each image by ``(seed, split, index)``).

Usage::

    python tools/dataset_converters/make_synthetic_refer.py data/synthetic_refer
    python tools/dataset_converters/make_synthetic_refer.py data/synthetic_refer \\
        --num-train 400 --num-val 60 --size 64 --seed 0
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import os.path as osp
import pickle
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

COLOURS = {'red': (220, 40, 40), 'green': (40, 170, 60),
           'blue': (40, 80, 225), 'yellow': (235, 205, 30)}
SHAPES = ('circle', 'square', 'triangle')
POSITIONS = {3: ('on the left', 'in the middle', 'on the right'),
             2: ('on the left', 'on the right')}
SPLITS = (('train', 0), ('val', 1))
DATASET = 'synthetic'
IMAGE_DIR = osp.join('images', 'mscoco', 'images', 'train2014')
#: Attribute subsets a sentence may use, and how it reads.
TEMPLATES = {
    ('colour', ): 'the {colour} shape',
    ('shape', ): 'the {shape}',
    ('position', ): 'the shape {position}',
    ('colour', 'shape'): 'the {colour} {shape}',
    ('colour', 'position'): 'the {colour} shape {position}',
    ('shape', 'position'): 'the {shape} {position}',
    ('colour', 'shape', 'position'): 'the {colour} {shape} {position}',
}


def shape_polygon(shape: str, cx: float, cy: float, r: float) -> List[float]:
    """COCO polygon ``[x1, y1, x2, y2, ...]`` of a shape of radius ``r``."""
    if shape == 'circle':
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)
    elif shape == 'square':
        s = 0.85 * r
        pts = np.array([[cx - s, cy - s], [cx + s, cy - s],
                        [cx + s, cy + s], [cx - s, cy + s]])
    elif shape == 'triangle':
        pts = np.array([[cx, cy - r], [cx + r, cy + 0.8 * r],
                        [cx - r, cy + 0.8 * r]])
    else:
        raise ValueError(f'unknown shape {shape!r}; expected {SHAPES}')
    return [round(float(v), 2) for v in pts.reshape(-1)]


def polygon_mask(poly: List[float], size: int) -> np.ndarray:
    """The mask pycocotools (and :class:`LoadReferMask`) make of ``poly``."""
    from pycocotools import mask as mask_utils
    rle = mask_utils.frPyObjects([poly], size, size)
    return mask_utils.decode(rle)[..., 0].astype(bool)


def unique_subsets(objects: List[Dict], target: int) -> List[Tuple[str, ...]]:
    """Attribute subsets that describe ``objects[target]`` and no other."""
    out = []
    for subset in TEMPLATES:
        others = [o for i, o in enumerate(objects) if i != target]
        if all(any(o[a] != objects[target][a] for a in subset)
               for o in others):
            out.append(subset)
    return out


def render_image(rng: np.random.Generator, size: int, num_objects: int
                 ) -> Tuple[np.ndarray, List[Dict]]:
    """One RGB image and its objects (attributes, polygon, mask, area)."""
    img = rng.normal(115, 8, (size, size, 3))
    columns = sorted(rng.choice(3, num_objects, replace=False))
    objects = []
    for rank, col in enumerate(columns):
        r = size * rng.uniform(0.11, 0.16)
        cx = size * (col + 0.5) / 3 + rng.uniform(-0.03, 0.03) * size
        cy = rng.uniform(r + 2, size - r - 2)
        colour = str(rng.choice(list(COLOURS)))
        shape = str(rng.choice(SHAPES))
        poly = shape_polygon(shape, cx, cy, r)
        mask = polygon_mask(poly, size)
        shade = np.array(COLOURS[colour], float) * rng.uniform(0.9, 1.05)
        img[mask] = shade + rng.normal(0, 5, (int(mask.sum()), 3))
        objects.append(dict(colour=colour, shape=shape,
                            position=POSITIONS[num_objects][rank],
                            polygon=poly, mask=mask, area=int(mask.sum())))
    return np.clip(img, 0, 255).astype(np.uint8), objects


def _sentences(rng: np.random.Generator, objects: List[Dict], target: int,
               per_ref: int) -> List[str]:
    subsets = unique_subsets(objects, target)
    order = rng.permutation(len(subsets))[:per_ref]
    return [TEMPLATES[subsets[i]].format(**objects[target]) for i in order]


def baselines(samples: Sequence[Tuple[np.ndarray, List[np.ndarray]]]
              ) -> Dict[str, Dict[str, float]]:
    """oIoU / mIoU of the trivial predictors over ``(gt, masks)`` pairs.

    Args:
        samples: One entry per sentence: its ground-truth mask and the
            masks of every shape of its image.

    Returns:
        dict: ``all_foreground``, ``all_background``, ``largest_shape`` and
        ``best`` (the one of them with the highest oIoU), each with
        ``oIoU`` and ``mIoU`` in percent.
    """
    preds = {
        'all_foreground': lambda gt, masks: np.ones_like(gt),
        'all_background': lambda gt, masks: np.zeros_like(gt),
        'largest_shape': lambda gt, masks: max(masks, key=lambda m: m.sum()),
    }
    out = {}
    for name, fn in preds.items():
        inter, union, ious = 0, 0, []
        for gt, masks in samples:
            p = fn(gt, masks)
            i, u = int((p & gt).sum()), int((p | gt).sum())
            inter, union = inter + i, union + u
            ious.append(i / u if u else 0.0)
        out[name] = dict(oIoU=100.0 * inter / max(union, 1),
                         mIoU=100.0 * float(np.mean(ious)))
    best = max(out, key=lambda k: out[k]['oIoU'])
    out['best'] = dict(out[best], name=best)
    return out


def make_synthetic_refer(out_dir: str,
                         num_train: int = 400,
                         num_val: int = 60,
                         size: int = 64,
                         num_objects: int = 3,
                         sentences_per_ref: int = 2,
                         seed: int = 0) -> Dict:
    """Write the set and return its ``meta.json`` content.

    Args:
        out_dir (str): Output root (the REFER ``data`` folder).
        num_train (int): Training images. Defaults to 400.
        num_val (int): Validation images. Defaults to 60.
        size (int): Image side in pixels. Defaults to 64.
        num_objects (int): Shapes per image, 2 or 3. Defaults to 3.
        sentences_per_ref (int): Sentences per shape (fewer when fewer
            distinguishing descriptions exist). Defaults to 2.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: Counts per split and the validation ``baselines``.
    """
    if num_objects not in POSITIONS:
        raise ValueError(f'num_objects must be 2 or 3, got {num_objects}')
    if size < 32:
        raise ValueError(f'size must be >= 32, got {size}')
    if num_train < 1 or num_val < 1:
        raise ValueError('num_train and num_val must be >= 1')
    if sentences_per_ref < 1:
        raise ValueError('sentences_per_ref must be >= 1')
    img_dir = osp.join(out_dir, IMAGE_DIR)
    ann_dir = osp.join(out_dir, DATASET)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    images, annotations, refs = [], [], []
    ids = itertools.count(1)
    sent_ids = itertools.count(1)
    meta = dict(size=size, seed=seed, num_objects=num_objects, splits={})
    val_samples = []
    for split, split_id in SPLITS:
        n = num_train if split == 'train' else num_val
        num_sents = 0
        for i in range(n):
            rng = np.random.default_rng([seed, split_id, i])
            img, objects = render_image(rng, size, num_objects)
            image_id = next(ids)
            file_name = f'synth_{image_id:012d}.jpg'
            cv2.imwrite(osp.join(img_dir, file_name), img[..., ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            images.append(dict(id=image_id, file_name=file_name,
                               height=size, width=size))
            for k, obj in enumerate(objects):
                ann_id = next(ids)
                x, y = obj['polygon'][0::2], obj['polygon'][1::2]
                annotations.append(dict(
                    id=ann_id, image_id=image_id,
                    category_id=SHAPES.index(obj['shape']) + 1,
                    segmentation=[obj['polygon']], area=obj['area'],
                    bbox=[min(x), min(y), max(x) - min(x), max(y) - min(y)],
                    iscrowd=0))
                sents = _sentences(rng, objects, k, sentences_per_ref)
                sentences = []
                for s in sents:
                    sentences.append(dict(sent_id=next(sent_ids),
                                          tokens=s.split(), sent=s,
                                          raw=s.capitalize() + '.'))
                refs.append(dict(
                    ref_id=ann_id, ann_id=ann_id, image_id=image_id,
                    category_id=SHAPES.index(obj['shape']) + 1,
                    split=split, file_name=file_name,
                    sent_ids=[s['sent_id'] for s in sentences],
                    sentences=sentences))
                num_sents += len(sentences)
                if split == 'val':
                    val_samples += [(obj['mask'],
                                     [o['mask'] for o in objects])
                                    ] * len(sentences)
        meta['splits'][split] = dict(images=n, refs=n * num_objects,
                                     sentences=num_sents)
    instances = dict(images=images, annotations=annotations,
                     categories=[dict(id=i + 1, name=s)
                                 for i, s in enumerate(SHAPES)])
    _write_atomic(osp.join(ann_dir, 'instances.json'),
                  json.dumps(instances).encode('utf-8'))
    _write_atomic(osp.join(ann_dir, 'refs(unc).p'),
                  pickle.dumps(refs, protocol=2))
    meta['baselines'] = baselines(val_samples)
    _write_atomic(osp.join(ann_dir, 'meta.json'),
                  json.dumps(meta, indent=2).encode('utf-8'))
    return meta


def _write_atomic(path: str, data: bytes) -> None:
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    from vpd.utils.checkpoint import atomic_write_bytes
    atomic_write_bytes(data, path)


def format_baselines(b: Dict) -> str:
    """One line per baseline (for logs)."""
    return '\n'.join(
        f'  {name:15s} oIoU {v["oIoU"]:5.1f}  mIoU {v["mIoU"]:5.1f}'
        for name, v in b.items() if name != 'best') + (
            f'\n  best: {b["best"]["name"]} (oIoU {b["best"]["oIoU"]:.1f})')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Write a procedural referring-segmentation set in the '
        'REFER layout (coloured shapes, sentences by colour / shape / '
        'position).')
    parser.add_argument('out_dir', help='output folder (REFER data root)')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=60)
    parser.add_argument('--size', type=int, default=64,
                        help='image side in pixels (default: 64)')
    parser.add_argument('--num-objects', type=int, default=3, choices=(2, 3))
    parser.add_argument('--sentences-per-ref', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; prints the counts and the baselines."""
    args = parse_args(argv)
    meta = make_synthetic_refer(args.out_dir, args.num_train, args.num_val,
                                args.size, args.num_objects,
                                args.sentences_per_ref, args.seed)
    for split, c in meta['splits'].items():
        print(f'{split}: {c["images"]} images, {c["refs"]} refs, '
              f'{c["sentences"]} sentences')
    print(f'Wrote {osp.abspath(args.out_dir)} ({args.size}x{args.size}). '
          'Validation baselines (every sentence):')
    print(format_baselines(meta['baselines']))
    return 0


if __name__ == '__main__':
    # vpd (and torch) is imported only if there is an error to report
    _argv = sys.argv[1:]
    try:
        _status = main([a for a in _argv if a != '--debug'])
    except Exception as _exc:  # noqa: BLE001 - one line for user errors
        sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
            osp.abspath(__file__)))))
        from vpd.utils.cli import handle_tool_error
        handle_tool_error(_exc, '--debug' in _argv)
    sys.exit(_status if isinstance(_status, int) else 0)
