"""COCO person keypoints, top-down: one sample per person box.

Replaces mmpose's ``CocoDataset(data_mode='topdown')``
(``mmpose/datasets/datasets/base/base_coco_style_dataset.py``): mmpose
1.3.2 is not a dependency of this project (its ``xtcocotools`` requirement
does not install on numpy 2 without manual steps; README, Installation
notes). The annotation file is read with :mod:`json`; which instances are
kept, how boxes are clipped and what a detection-based sample holds follow
mmpose, so configs and numbers carry over.
"""
from __future__ import annotations

import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from vpd.registry import DATASETS

#: COCO keypoint order (``person_keypoints_*.json``, category 1).
COCO_KEYPOINT_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle')
#: Index of the mirror partner of each keypoint (left <-> right).
COCO_FLIP_INDICES = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16,
                     15)
#: Per-keypoint OKS falloff of the COCO keypoint benchmark
#: (cocodataset.org/#keypoints-eval; pycocotools' default).
COCO_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072,
               0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089,
               0.089)
#: The COCO ``skeleton`` (0-based keypoint index pairs).
COCO_SKELETON = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11),
                 (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10), (1, 2),
                 (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))

_MAX_LISTED = 5


def _listing(items: Sequence[str]) -> str:
    shown = ', '.join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f' and {more} more' if more > 0 else '')


def _load_json(path: str, what: str) -> Any:
    if not osp.isfile(path):
        raise FileNotFoundError(f'CocoKeypointDataset: {what} "{path}" does '
                                'not exist.')
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'CocoKeypointDataset: {what} "{path}" is not '
                         f'valid JSON: {e}') from None


@DATASETS.register_module()
class CocoKeypointDataset(BaseDataset):
    """COCO-format person keypoints, one data sample per person box.

    Training (``test_mode=False``) uses the ground-truth boxes of the
    annotation file; evaluation uses a detection-results file
    (``bbox_file``, COCO result format: ``[{"image_id", "category_id",
    "bbox": [x, y, w, h], "score"}]``, e.g.
    ``COCO_val2017_detections_AP_H_56_person.json``) or, with
    ``bbox_file=None``, the ground-truth boxes.

    Ground-truth instances are kept as mmpose keeps them: not crowd, at
    least one labelled keypoint, a non-empty box after clipping to the
    image. Detections are kept when ``category_id == 1`` and ``score >=
    bbox_score_thr``; their keypoints are placeholders (zeros, visible).

    Each data info has ``img_id``, ``img_path``, ``id`` (annotation id, or
    the running index of the detection), ``bbox`` ``[1, 4]`` (x1, y1, x2,
    y2, clipped to the image), ``bbox_score`` ``[1]``, ``keypoints``
    ``[1, K, 2]`` (pixels), ``keypoints_visible`` ``[1, K]`` (0 unlabelled,
    1 labelled), ``area``, ``category_id``, ``num_keypoints`` and the
    dataset's ``flip_indices``, ``upper_body_ids``, ``lower_body_ids``.

    Bad input (all checked when the dataset is built):

    * annotation or detection file missing or not JSON, a detection file
      that is empty or has no person detections, an annotation whose
      ``keypoints`` does not hold ``3 * K`` numbers, an annotation or
      detection naming an image id the annotation file does not list, a
      referenced image file that does not exist (with ``check_files``):
      an error naming the file and the ids;
    * a box that lies outside its image (empty after clipping): skipped,
      and one warning gives the number skipped and their ids.

    Args:
        ann_file (str): ``person_keypoints_*.json`` (relative to
            ``data_root`` unless absolute).
        bbox_file (str, optional): Detection results (relative to
            ``data_root`` unless absolute); only with ``test_mode=True``.
            Defaults to None (ground-truth boxes).
        bbox_score_thr (float): Detections scoring below are dropped.
            Defaults to 0.0.
        check_files (bool): Check that every image exists. Defaults to True.
        data_root (str): Dataset root. Defaults to ''.
        data_prefix (dict): ``img``: the image folder. Defaults to
            ``dict(img='')``.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ``indices``, ``metainfo`` ...).
    """

    METAINFO: dict = dict(
        dataset_name='coco',
        num_keypoints=17,
        keypoint_names=COCO_KEYPOINT_NAMES,
        flip_indices=COCO_FLIP_INDICES,
        upper_body_ids=tuple(range(11)),
        lower_body_ids=tuple(range(11, 17)),
        sigmas=COCO_SIGMAS,
        skeleton_links=COCO_SKELETON)

    #: Metainfo keys copied into every data info (the transforms read them).
    PER_SAMPLE_META = ('flip_indices', 'upper_body_ids', 'lower_body_ids')

    def __init__(self,
                 ann_file: str,
                 bbox_file: Optional[str] = None,
                 bbox_score_thr: float = 0.0,
                 check_files: bool = True,
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 test_mode: bool = False,
                 **kwargs) -> None:
        if bbox_file and not test_mode:
            raise ValueError(
                'CocoKeypointDataset: bbox_file (detections) is for '
                'evaluation only; set test_mode=True or bbox_file=None.')
        if data_root and not osp.isdir(data_root):
            raise FileNotFoundError(
                f'CocoKeypointDataset: data_root "{data_root}" does not '
                'exist or is not a folder.')
        if bbox_file and data_root and not osp.isabs(bbox_file):
            bbox_file = osp.join(data_root, bbox_file)
        self.bbox_file = bbox_file
        self.bbox_score_thr = float(bbox_score_thr)
        self.check_files = check_files
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix or dict(img=''),
            test_mode=test_mode,
            **kwargs)

    # ------------------------------------------------------------------
    def _read_annotations(self) -> dict:
        coco = _load_json(self.ann_file, 'annotation file')
        if not isinstance(coco, dict) or 'images' not in coco:
            raise ValueError(
                f'CocoKeypointDataset: annotation file "{self.ann_file}" '
                'has no "images" list (COCO keypoint format expected).')
        num_kpts = int(self._metainfo['num_keypoints'])
        for cat in coco.get('categories', []):
            names = cat.get('keypoints')
            if cat.get('id') == 1 and names is not None and \
                    len(names) != num_kpts:
                raise ValueError(
                    f'CocoKeypointDataset: "{self.ann_file}" category 1 has '
                    f'{len(names)} keypoint names, the dataset expects '
                    f'{num_kpts} ({self._metainfo["dataset_name"]}).')
        return coco

    def _image_path(self, img: dict) -> str:
        return osp.join(self.data_prefix.get('img', ''), img['file_name'])

    def load_data_list(self) -> List[dict]:
        """Read the annotation (and detection) file into data infos."""
        coco = self._read_annotations()
        images: Dict[Any, dict] = {}
        for img in coco['images']:
            images[img['id']] = img
        num_kpts = int(self._metainfo['num_keypoints'])
        skipped: List[str] = []
        if self.bbox_file:
            data_list = self._detection_infos(images, num_kpts, skipped)
        else:
            data_list = self._ground_truth_infos(coco, images, num_kpts,
                                                 skipped)
        if skipped:
            print_log(
                f'CocoKeypointDataset: skipped {len(skipped)} box(es) that '
                f'lie outside their image: {_listing(skipped)}.',
                logger='current', level=30)
        if self.check_files:
            seen = set()
            for info in data_list:
                if info['img_id'] in seen:
                    continue
                seen.add(info['img_id'])
                if not osp.isfile(info['img_path']):
                    raise FileNotFoundError(
                        f'CocoKeypointDataset: image id {info["img_id"]} of '
                        f'"{self.ann_file}": file "{info["img_path"]}" does '
                        'not exist.')
        if not data_list:
            source = self.bbox_file or self.ann_file
            raise ValueError(
                f'CocoKeypointDataset: "{source}" gives no usable person '
                'box.')
        return data_list

    def _clip_box(self, xywh: Sequence[float], img: dict) -> np.ndarray:
        x, y, w, h = (float(v) for v in xywh[:4])
        iw, ih = img['width'], img['height']
        x1, y1 = np.clip(x, 0, iw - 1), np.clip(y, 0, ih - 1)
        x2, y2 = np.clip(x + w, 0, iw - 1), np.clip(y + h, 0, ih - 1)
        return np.array([[x1, y1, x2, y2]], dtype=np.float32)

    def _ground_truth_infos(self, coco: dict, images: Dict[Any, dict],
                            num_kpts: int, skipped: List[str]) -> List[dict]:
        data_list = []
        for ann in coco.get('annotations', []):
            if 'keypoints' not in ann or 'bbox' not in ann:
                continue
            ann_id, img_id = ann.get('id'), ann.get('image_id')
            kpts = np.asarray(ann['keypoints'], dtype=np.float32)
            if kpts.size != 3 * num_kpts:
                raise ValueError(
                    f'CocoKeypointDataset: "{self.ann_file}" annotation id '
                    f'{ann_id} (image id {img_id}) has {kpts.size} keypoint '
                    f'values, expected {3 * num_kpts} ({num_kpts} x (x, y, '
                    'v)).')
            if img_id not in images:
                raise ValueError(
                    f'CocoKeypointDataset: "{self.ann_file}" annotation id '
                    f'{ann_id} names image id {img_id}, which is not in '
                    '"images".')
            kpts = kpts.reshape(1, num_kpts, 3)
            visible = np.minimum(1, kpts[..., 2])
            num_labelled = int(ann.get('num_keypoints',
                                       np.count_nonzero(visible)))
            if ann.get('iscrowd', 0) or num_labelled == 0 or \
                    kpts[..., :2].max() <= 0:
                continue
            img = images[img_id]
            bbox = self._clip_box(ann['bbox'], img)
            if bbox[0, 2] <= bbox[0, 0] or bbox[0, 3] <= bbox[0, 1]:
                skipped.append(f'annotation id {ann_id} (image id {img_id})')
                continue
            area = float(ann.get('area', (bbox[0, 2] - bbox[0, 0]) *
                                 (bbox[0, 3] - bbox[0, 1]) * 0.53))
            data_list.append(
                dict(img_id=img_id,
                     img_path=self._image_path(img),
                     id=ann_id,
                     bbox=bbox,
                     bbox_score=np.ones(1, dtype=np.float32),
                     keypoints=kpts[..., :2].copy(),
                     keypoints_visible=visible.astype(np.float32),
                     num_keypoints=num_labelled,
                     area=area,
                     category_id=int(ann.get('category_id', 1))))
        return data_list

    def _detection_infos(self, images: Dict[Any, dict], num_kpts: int,
                         skipped: List[str]) -> List[dict]:
        dets = _load_json(self.bbox_file, 'detection file')
        if not isinstance(dets, list):
            raise ValueError(
                f'CocoKeypointDataset: detection file "{self.bbox_file}" '
                'must be a JSON list of {"image_id", "category_id", "bbox", '
                '"score"}.')
        if not dets:
            raise ValueError(
                f'CocoKeypointDataset: detection file "{self.bbox_file}" is '
                'empty (no detections); evaluate on ground-truth boxes with '
                'bbox_file=None or pass a non-empty file.')
        data_list = []
        for i, det in enumerate(dets):
            if not isinstance(det, dict) or not {'image_id', 'bbox'} <= set(
                    det):
                raise ValueError(
                    f'CocoKeypointDataset: "{self.bbox_file}" entry {i} is '
                    'not a detection {"image_id", "bbox", "score", '
                    f'"category_id"}}: {str(det)[:80]}')
            if det.get('category_id', 1) != 1:
                continue
            score = float(det.get('score', 1.0))
            if score < self.bbox_score_thr:
                continue
            img_id = det['image_id']
            if img_id not in images:
                raise ValueError(
                    f'CocoKeypointDataset: "{self.bbox_file}" detection {i} '
                    f'names image id {img_id}, which "{self.ann_file}" does '
                    'not list.')
            if len(det['bbox']) < 4:
                raise ValueError(
                    f'CocoKeypointDataset: "{self.bbox_file}" detection {i} '
                    f'(image id {img_id}) has bbox {det["bbox"]}, expected '
                    '[x, y, w, h].')
            img = images[img_id]
            bbox = self._clip_box(det['bbox'], img)
            if bbox[0, 2] <= bbox[0, 0] or bbox[0, 3] <= bbox[0, 1]:
                skipped.append(f'detection {i} (image id {img_id})')
                continue
            data_list.append(
                dict(img_id=img_id,
                     img_path=self._image_path(img),
                     id=len(data_list),
                     bbox=bbox,
                     bbox_score=np.array([score], dtype=np.float32),
                     keypoints=np.zeros((1, num_kpts, 2), np.float32),
                     keypoints_visible=np.ones((1, num_kpts), np.float32),
                     num_keypoints=0,
                     area=float((bbox[0, 2] - bbox[0, 0]) *
                                (bbox[0, 3] - bbox[0, 1])),
                     category_id=1))
        if not data_list and not skipped:
            raise ValueError(
                f'CocoKeypointDataset: detection file "{self.bbox_file}" has '
                f'no person detection (category_id 1) with score >= '
                f'{self.bbox_score_thr}.')
        return data_list

    # ------------------------------------------------------------------
    def get_data_info(self, idx: int) -> dict:
        """The data info of sample ``idx`` with the per-sample metainfo."""
        info = super().get_data_info(idx)
        for key in self.PER_SAMPLE_META:
            if key in self._metainfo:
                info[key] = list(self._metainfo[key])
        return info

    def prepare_data(self, idx: int):
        """Run the pipeline on sample ``idx``; an error names the sample.

        An unreadable image or a failing transform is re-raised as a
        :class:`RuntimeError` naming the annotation (or detection) file, the
        image id, the instance id and the image file.
        """
        try:
            return super().prepare_data(idx)
        except Exception as err:
            info = self.get_data_info(idx)
            raise RuntimeError(
                f'"{self.bbox_file or self.ann_file}", image id '
                f'{info.get("img_id")}, instance id {info.get("id")} '
                f'(image "{info.get("img_path")}"): {type(err).__name__}: '
                f'{err}') from err
