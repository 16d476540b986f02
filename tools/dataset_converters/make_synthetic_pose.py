"""A procedural person-keypoint set in the COCO layout, for CPU checks.

Each image has one or more stick figures on a textured background with a
few distracting strokes. A figure has the 17 COCO keypoints (nose, eyes,
ears, shoulders, elbows, wrists, hips, knees, ankles) at known positions:
a random pose (lean, arm and leg angles, elbow and knee bends), size,
proportions and place. Figures face the camera, so the person's left is on
the image's right; the limbs of the left side are drawn in warm colours
and those of the right side in cool colours, which is what tells left from
right (also after a horizontal flip). Keypoint flags follow COCO: ``v = 2``
visible, ``v = 1`` labelled but hidden (under an occluding patch or a later
figure), ``v = 0`` unlabelled (outside the image; coordinates 0). ``bbox``
is the extent of the figure's pixels; ``area`` (the OKS scale) is ``0.53 *
bbox area``, mmpose's rule for annotations without an area: the pixel
area of a thin stick figure would make OKS much stricter than for the
silhouette of a real person.

Output (what :class:`vpd.datasets.CocoKeypointDataset` and the COCO
configs read)::

    out_dir/train2017/synth_000000.jpg ...
    out_dir/val2017/synth_000000.jpg ...
    out_dir/annotations/person_keypoints_train2017.json
    out_dir/annotations/person_keypoints_val2017.json
    out_dir/person_detection_results/synthetic_val2017_detections.json
    out_dir/meta.json

The detections file imitates a person detector on the validation images:
each figure's box jittered (about 5% of its size) with a score in
[0.6, 1.0], a few figures missed, and false positives with low scores, in
the COCO result format (``image_id``, ``category_id``, ``bbox`` ``[x, y,
w, h]``, ``score``). Every image is determined by ``(seed, split,
index)``; everything is written atomically.

Usage::

    python tools/dataset_converters/make_synthetic_pose.py data/synthetic_pose
    python tools/dataset_converters/make_synthetic_pose.py data/synthetic_pose \\
        --num-train 300 --num-val 40 --size 128 --max-persons 2 --seed 0
"""
from __future__ import annotations

import argparse
import colorsys
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: COCO keypoint names, in annotation order.
KEYPOINT_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle')
#: The COCO skeleton, 1-based as in ``person_keypoints_*.json``.
SKELETON_1BASED = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13],
                   [6, 12], [7, 13], [6, 7], [6, 8], [7, 9], [8, 10],
                   [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6],
                   [5, 7]]
SPLITS = (('train2017', 'person_keypoints_train2017.json', 0),
          ('val2017', 'person_keypoints_val2017.json', 1))
DETECTIONS = 'person_detection_results/synthetic_val2017_detections.json'


def _write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _write_json(path: str, obj) -> None:
    _write_atomic(path, json.dumps(obj, indent=1).encode('utf-8'))


def _unit(angle: float) -> np.ndarray:
    return np.array([np.cos(angle), np.sin(angle)])


def random_pose(rng: np.random.Generator, height: float,
                hips: np.ndarray) -> np.ndarray:
    """17 keypoints ``[17, 2]`` (image pixels) of a random stick figure.

    Angles are in image coordinates (y down). ``height`` is the figure's
    nominal height (head top to ankles when standing straight).
    """
    p = height * rng.uniform(0.9, 1.1, size=9)
    torso, neck, head_r, sh_half, hip_half, upper, fore, thigh, shin = (
        0.30 * p[0], 0.07 * p[1], 0.075 * p[2], 0.11 * p[3], 0.075 * p[4],
        0.17 * p[5], 0.15 * p[6], 0.24 * p[7], 0.23 * p[8])
    up = -np.pi / 2 + rng.normal(0, np.deg2rad(10))
    u = _unit(up)  # along the spine, towards the head
    right = _unit(up + np.pi / 2)  # image right = the person's left
    neck_pt = hips + torso * u
    head = neck_pt + (neck + head_r) * u
    k = np.zeros((17, 2))
    k[0] = head - 0.2 * head_r * u  # nose
    k[1] = head + 0.38 * head_r * right + 0.25 * head_r * u  # left eye
    k[2] = head - 0.38 * head_r * right + 0.25 * head_r * u
    k[3] = head + 0.95 * head_r * right + 0.05 * head_r * u  # left ear
    k[4] = head - 0.95 * head_r * right + 0.05 * head_r * u
    down = up + np.pi
    for side, sign in ((0, 1.0), (1, -1.0)):  # 0 = left (image right)
        sh = neck_pt + sign * sh_half * right
        a1 = down - sign * np.deg2rad(rng.uniform(-25, 170))
        el = sh + upper * _unit(a1)
        a2 = a1 - sign * np.deg2rad(rng.uniform(-20, 150))
        wr = el + fore * _unit(a2)
        hp = hips + sign * hip_half * right
        l1 = down - sign * np.deg2rad(rng.uniform(-15, 55))
        kn = hp + thigh * _unit(l1)
        l2 = l1 + sign * np.deg2rad(rng.uniform(-5, 80)) * \
            rng.choice([-1.0, 1.0], p=[0.3, 0.7])
        an = kn + shin * _unit(l2)
        k[5 + side], k[7 + side], k[9 + side] = sh, el, wr
        k[11 + side], k[13 + side], k[15 + side] = hp, kn, an
    return k


def _colour(h: float, s: float, v: float) -> Tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(b * 255), int(g * 255), int(r * 255)  # BGR for cv2


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour field + noise + a few distracting strokes (BGR)."""
    coarse = rng.uniform(40, 215, size=(4, 4, 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 10, size=img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(1, 5)):
        p1 = tuple(int(v) for v in rng.uniform(0, [w, h]))
        p2 = tuple(int(v) for v in rng.uniform(0, [w, h]))
        col = tuple(int(v) for v in rng.uniform(0, 255, 3))
        cv2.line(img, p1, p2, col, int(rng.integers(1, 4)), cv2.LINE_AA)
    return img


def draw_figure(img: np.ndarray, kpts: np.ndarray, height: float,
                rng: np.random.Generator) -> np.ndarray:
    """Draw one figure; returns its mask (bool ``[H, W]``)."""
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    limb = max(2, int(round(0.06 * height)))
    warm = rng.uniform(-0.05, 0.08)
    cool = rng.uniform(0.52, 0.68)
    torso_col = _colour(rng.uniform(0, 1), rng.uniform(0.1, 0.4),
                        rng.uniform(0.3, 0.9))
    skin = _colour(rng.uniform(0.03, 0.1), rng.uniform(0.3, 0.6),
                   rng.uniform(0.5, 0.95))

    def pt(i: int) -> Tuple[int, int]:
        return int(round(kpts[i, 0] * 4)), int(round(kpts[i, 1] * 4))

    def line(i: int, j: int, col, thick: int) -> None:
        for target, c in ((img, col), (mask, 1)):
            cv2.line(target, pt(i), pt(j), c, thick, cv2.LINE_AA, shift=2)

    torso = np.array([pt(5), pt(6), pt(12), pt(11)], np.int32)
    cv2.fillPoly(img, [torso], torso_col, cv2.LINE_AA, shift=2)
    cv2.fillPoly(mask, [torso], 1, cv2.LINE_AA, shift=2)
    for side, hue in ((0, warm), (1, cool)):
        arm = _colour(hue, 0.85, rng.uniform(0.75, 1.0))
        leg = _colour(hue + 0.04, 0.9, rng.uniform(0.45, 0.7))
        line(5 + side, 7 + side, arm, limb)
        line(7 + side, 9 + side, arm, limb)
        line(11 + side, 13 + side, leg, limb + 1)
        line(13 + side, 15 + side, leg, limb + 1)
    neck_mid = (kpts[5] + kpts[6]) / 2
    head_c = (kpts[3] + kpts[4]) / 2
    r = int(round(np.linalg.norm(kpts[3] - kpts[4]) / 2 * 4 * 1.05))
    c = (int(round(head_c[0] * 4)), int(round(head_c[1] * 4)))
    n = (int(round(neck_mid[0] * 4)), int(round(neck_mid[1] * 4)))
    for target, col in ((img, skin), (mask, 1)):
        cv2.line(target, n, c, col, limb, cv2.LINE_AA, shift=2)
        cv2.circle(target, c, r, col, -1, cv2.LINE_AA, shift=2)
    dot = max(1, int(round(0.012 * height * 4)))
    for i, col in ((1, _colour(warm, 0.9, 0.3)), (2, _colour(cool, 0.9, 0.3)),
                   (0, (40, 40, 160))):
        cv2.circle(img, pt(i), dot * 2, col, -1, cv2.LINE_AA, shift=2)
    for i, hue in ((3, warm), (4, cool)):
        cv2.circle(img, pt(i), dot * 3, _colour(hue, 0.7, 0.8), -1,
                   cv2.LINE_AA, shift=2)
    return mask > 0


def render_image(rng: np.random.Generator, size: int,
                 max_persons: int) -> Tuple[np.ndarray, List[dict]]:
    """One image (BGR uint8) and its person annotations (without ids)."""
    img = _background(rng, size, size)
    persons = []
    for _ in range(int(rng.integers(1, max_persons + 1))):
        height = rng.uniform(0.45, 0.95) * size
        hips = rng.uniform([0.15 * size, 0.35 * size + 0.3 * height],
                           [0.85 * size, 0.65 * size + 0.4 * height])
        hips[1] = min(hips[1], size - 0.2 * height)
        kpts = random_pose(rng, height, hips)
        mask = draw_figure(img, kpts, height, rng)
        if mask.sum() < 20:
            continue
        for prev in persons:  # a later figure hides what it covers
            prev['mask'] &= ~mask
        persons.append(dict(kpts=kpts, mask=mask, occluder=None))
    for person in persons:
        if rng.uniform() < 0.3:  # an occluding patch over part of the figure
            ys, xs = np.nonzero(person['mask'])
            if len(xs) == 0:
                continue
            cx, cy = xs[rng.integers(len(xs))], ys[rng.integers(len(ys))]
            hw = rng.uniform(0.08, 0.2, size=2) * size
            x0, y0 = int(max(cx - hw[0], 0)), int(max(cy - hw[1], 0))
            x1, y1 = int(min(cx + hw[0], size)), int(min(cy + hw[1], size))
            patch = rng.uniform(30, 220, size=3)
            noise = rng.normal(0, 12, size=(y1 - y0, x1 - x0, 3))
            img[y0:y1, x0:x1] = np.clip(patch + noise, 0, 255)
            person['occluder'] = (x0, y0, x1, y1)
    anns = []
    for idx, person in enumerate(persons):
        kpts, mask = person['kpts'], person['mask']
        vis = np.full(17, 2)
        for later in persons[idx + 1:]:
            lm = later['mask']
            xi = np.clip(np.round(kpts[:, 0]).astype(int), 0, size - 1)
            yi = np.clip(np.round(kpts[:, 1]).astype(int), 0, size - 1)
            vis[lm[yi, xi]] = 1
        if person['occluder'] is not None:
            x0, y0, x1, y1 = person['occluder']
            inside = ((kpts[:, 0] >= x0) & (kpts[:, 0] < x1) &
                      (kpts[:, 1] >= y0) & (kpts[:, 1] < y1))
            vis[inside] = 1
        out = ((kpts[:, 0] < 0) | (kpts[:, 1] < 0) | (kpts[:, 0] > size - 1)
               | (kpts[:, 1] > size - 1))
        vis[out] = 0
        if (vis > 0).sum() == 0:
            continue
        full = np.zeros_like(mask)
        full |= person['mask']
        ys, xs = np.nonzero(full)
        if len(xs) == 0:
            continue
        x0, y0 = float(xs.min()), float(ys.min())
        bw, bh = float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() +
                                                         1)
        flat = []
        for (x, y), v in zip(kpts, vis):
            flat += [0.0, 0.0, 0] if v == 0 else [
                round(float(x), 2), round(float(y), 2), int(v)
            ]
        anns.append(
            dict(keypoints=flat,
                 num_keypoints=int((vis > 0).sum()),
                 bbox=[x0, y0, bw, bh],
                 area=round(0.53 * bw * bh, 2),
                 iscrowd=0,
                 category_id=1))
    return img, anns


def fake_detections(rng: np.random.Generator, anns: Sequence[dict],
                    images: Sequence[dict]) -> List[dict]:
    """Detector-like person boxes for the given annotations."""
    dets = []
    for ann in anns:
        if rng.uniform() < 0.05:
            continue  # missed
        x, y, w, h = ann['bbox']
        j = rng.normal(0, 0.05, size=4)
        box = [x + j[0] * w, y + j[1] * h, w * (1 + j[2]), h * (1 + j[3])]
        dets.append(
            dict(image_id=ann['image_id'], category_id=1,
                 bbox=[round(float(v), 2) for v in box],
                 score=round(float(rng.uniform(0.6, 1.0)), 4)))
    for img in images:
        if rng.uniform() < 0.3:
            size = img['width']
            w, h = rng.uniform(0.15, 0.4, size=2) * size
            x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
            dets.append(
                dict(image_id=img['id'], category_id=1,
                     bbox=[round(float(v), 2) for v in (x, y, w, h)],
                     score=round(float(rng.uniform(0.05, 0.5)), 4)))
    return dets


def coco_categories() -> List[dict]:
    return [
        dict(id=1, name='person', supercategory='person',
             keypoints=list(KEYPOINT_NAMES), skeleton=SKELETON_1BASED)
    ]


def make_synthetic_pose(out_dir: str,
                        num_train: int = 300,
                        num_val: int = 40,
                        size: int = 128,
                        max_persons: int = 2,
                        seed: int = 0) -> Dict:
    """Write the synthetic set and return its ``meta.json`` content.

    Args:
        out_dir (str): Output root.
        num_train (int): Training images. Defaults to 300.
        num_val (int): Validation images. Defaults to 40.
        size (int): Image side in pixels. Defaults to 128.
        max_persons (int): Figures per image, 1..max_persons.
            Defaults to 2.
        seed (int): Seed. Defaults to 0.

    Returns:
        dict: Counts and file names.
    """
    if min(num_train, num_val) < 1 or size < 32 or max_persons < 1:
        raise ValueError('need num_train, num_val >= 1, size >= 32, '
                         f'max_persons >= 1; got {num_train}, {num_val}, '
                         f'{size}, {max_persons}')
    meta = dict(size=size, max_persons=max_persons, seed=seed, splits={})
    ann_id = 1
    for (folder, ann_name, split_idx), count in zip(SPLITS,
                                                   (num_train, num_val)):
        images, anns = [], []
        for i in range(count):
            rng = np.random.default_rng([seed, split_idx, i])
            img, persons = render_image(rng, size, max_persons)
            img_id = i + 1
            name = f'synth_{i:06d}.jpg'
            ok, buf = cv2.imencode('.jpg', img,
                                   [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise IOError(f'could not encode {name}')
            _write_atomic(osp.join(out_dir, folder, name), buf.tobytes())
            images.append(dict(id=img_id, file_name=name, width=size,
                               height=size))
            for person in persons:
                person.update(id=ann_id, image_id=img_id)
                ann_id += 1
                anns.append(person)
        _write_json(osp.join(out_dir, 'annotations', ann_name),
                    dict(images=images, annotations=anns,
                         categories=coco_categories()))
        meta['splits'][folder] = dict(images=len(images), persons=len(anns))
        if split_idx == 1:
            dets = fake_detections(np.random.default_rng([seed, 99]), anns,
                                   images)
            _write_json(osp.join(out_dir, DETECTIONS), dets)
            meta['detections'] = dict(file=DETECTIONS, boxes=len(dets))
    _write_json(osp.join(out_dir, 'meta.json'), meta)
    return meta


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a procedural stick-figure keypoint set in the '
        'COCO layout.')
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument('--num-train', type=int, default=300)
    parser.add_argument('--num-val', type=int, default=40)
    parser.add_argument('--size', type=int, default=128,
                        help='image side in pixels (default 128)')
    parser.add_argument('--max-persons', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    meta = make_synthetic_pose(args.out_dir, args.num_train, args.num_val,
                               args.size, args.max_persons, args.seed)
    print(json.dumps(meta, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
