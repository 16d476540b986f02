"""Top-down pose inference on your own images, with or without person boxes.

:func:`inference_pose` is what :func:`vpd.apis.inference_model` runs for a
pose model: each person box of an image is cut out with the config's test
pipeline (box -> centre / padded size -> affine crop), all crops of the
image go through the model as one batch (flip test as configured), and the
keypoints come back in image pixels, as COCO keypoint results::

    [{"image_id": 397133, "category_id": 1, "bbox": [x, y, w, h],
      "keypoints": [x1, y1, s1, ..., x17, y17, s17], "score": 0.93}, ...]

``score`` is the box score times the mean keypoint score. Without boxes
the whole image is one box (score 1).

Box files (:func:`load_bboxes_file`), JSON, one of:

* a list of boxes ``[[x, y, w, h], ...]`` or ``[[x, y, w, h, score], ...]``
  (used for every image);
* ``{"file name": [[x, y, w, h(, score)], ...], ...}`` (matched by file
  name, e.g. for a folder);
* COCO detection results ``[{"image_id", "bbox", "score",
  "category_id"}]`` (persons, ``category_id`` 1, matched by image id: the
  number in the file name, as COCO's ``000000397133.jpg`` -> 397133).
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

ImageInput = Union[str, np.ndarray]

#: Test-pipeline steps replaced by the boxes and images given here.
_SKIPPED = ('LoadImageFromFile', 'LoadImageFromNDArray')


def image_id_of(path: str) -> Union[int, str]:
    """COCO-style image id of a file: its number, else its stem."""
    stem = osp.splitext(osp.basename(path))[0]
    return int(stem) if stem.isdigit() else stem


def _boxes_array(rows, where: str) -> np.ndarray:
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or len(row) not in (4, 5):
            raise ValueError(f'{where}: box {i} must be [x, y, w, h] or [x, '
                             f'y, w, h, score], got {row!r}')
        x, y, w, h = (float(v) for v in row[:4])
        if w <= 0 or h <= 0:
            raise ValueError(f'{where}: box {i} has no area: {row!r}')
        out.append([x, y, x + w, y + h, float(row[4]) if len(row) == 5
                    else 1.0])
    return np.asarray(out, np.float32).reshape(-1, 5)


def load_bboxes_file(path: str,
                     image_paths: Sequence[str]) -> Dict[str, np.ndarray]:
    """Person boxes per image from a JSON file (formats in the module doc).

    Args:
        path (str): The JSON file.
        image_paths (Sequence[str]): The images the boxes are for.

    Returns:
        dict: image path -> ``[N, 5]`` (x1, y1, x2, y2, score); images
        without boxes are absent.

    Raises:
        FileNotFoundError | ValueError: Missing file, bad JSON or a box
            that is not ``[x, y, w, h(, score)]`` (the message names the
            file and the entry).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Box file "{path}" does not exist')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'Box file "{path}" is not valid JSON: {e}') from None
    out: Dict[str, np.ndarray] = {}
    if isinstance(data, dict):
        by_name = {osp.basename(p): p for p in image_paths}
        for name, rows in data.items():
            if osp.basename(name) in by_name:
                out[by_name[osp.basename(name)]] = _boxes_array(
                    rows, f'{path}, "{name}"')
        return out
    if not isinstance(data, list):
        raise ValueError(f'Box file "{path}": expected a list or a dict')
    if data and isinstance(data[0], dict):
        by_id = {image_id_of(p): p for p in image_paths}
        rows: Dict[str, list] = {}
        for i, det in enumerate(data):
            if 'bbox' not in det or 'image_id' not in det:
                raise ValueError(f'Box file "{path}": entry {i} has no '
                                 '"image_id" / "bbox"')
            if det.get('category_id', 1) != 1 or det['image_id'] not in by_id:
                continue
            rows.setdefault(by_id[det['image_id']], []).append(
                list(det['bbox'][:4]) + [det.get('score', 1.0)])
        return {p: _boxes_array(r, f'{path}') for p, r in rows.items()}
    boxes = _boxes_array(data, path)
    return {p: boxes for p in image_paths}


def _pipeline(cfg):
    from mmengine.dataset import Compose
    steps = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    return Compose([
        s for s in copy.deepcopy(list(steps)) if s['type'] not in _SKIPPED
    ])


def inference_pose(model: torch.nn.Module,
                   img: ImageInput,
                   bboxes: Optional[np.ndarray] = None) -> List[dict]:
    """Keypoints of every person box of one image (COCO result dicts).

    Args:
        model (nn.Module): A ``DiffusionPoseEstimator`` from
            :func:`vpd.apis.init_model` (needs ``model.cfg``).
        img (str | np.ndarray): Image path or BGR ``uint8`` ``[H, W, 3]``.
        bboxes (np.ndarray, optional): ``[N, 4]`` or ``[N, 5]`` (x1, y1,
            x2, y2(, score)) in pixels. None: the whole image.

    Returns:
        list[dict]: One COCO keypoint result per box (module doc).
    """
    import mmcv
    from mmengine.dataset import pseudo_collate
    if isinstance(img, np.ndarray):
        image, path, img_id = img, None, 0
    else:
        path = os.fspath(img)
        if not osp.isfile(path):
            raise FileNotFoundError(f'Image "{path}" does not exist')
        image = mmcv.imread(path)
        if image is None:
            raise IOError(f'Could not read image "{path}"')
        img_id = image_id_of(path)
    h, w = image.shape[:2]
    if bboxes is None or len(bboxes) == 0:
        if bboxes is not None:
            return []
        bboxes = np.array([[0, 0, w - 1, h - 1, 1.0]], np.float32)
    bboxes = np.asarray(bboxes, np.float32)
    if bboxes.ndim != 2 or bboxes.shape[1] not in (4, 5):
        raise ValueError(f'bboxes must be [N, 4] or [N, 5], got '
                         f'{bboxes.shape}')
    if bboxes.shape[1] == 4:
        bboxes = np.hstack([bboxes, np.ones((len(bboxes), 1), np.float32)])
    meta = getattr(model, 'dataset_meta', None) or {}
    flip_indices = meta.get('flip_indices')
    pipeline = _pipeline(model.cfg)
    data = []
    for i, box in enumerate(bboxes):
        res = dict(img=image.copy(), img_shape=(h, w), ori_shape=(h, w),
                   img_path=path, img_id=img_id, id=i,
                   bbox=box[None, :4].copy(), bbox_score=box[4:5].copy())
        if flip_indices is not None:
            res['flip_indices'] = list(flip_indices)
        data.append(pipeline(res))
    with torch.no_grad():
        samples = model.test_step(pseudo_collate(data))
    out = []
    for box, sample in zip(bboxes, samples):
        pred = sample.pred_instances
        kpts = np.asarray(pred.keypoints, np.float64)[0]
        scores = np.asarray(pred.keypoint_scores, np.float64)[0]
        flat = np.concatenate([kpts, scores[:, None]], 1).reshape(-1)
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        out.append(dict(image_id=img_id, category_id=1,
                        bbox=[x1, y1, x2 - x1, y2 - y1],
                        keypoints=[round(float(v), 3) for v in flat],
                        score=float(box[4] * scores.mean())))
    return out
