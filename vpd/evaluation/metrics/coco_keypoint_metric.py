"""COCO keypoint AP / AR of top-down predictions (pycocotools COCOeval)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from vpd.registry import METRICS

#: COCOeval ``stats`` order for ``iouType='keypoints'``.
STAT_NAMES = ('AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75',
              'ARm', 'ARl')
SCORE_MODES = ('bbox', 'keypoint', 'bbox_keypoint')
#: Name of the results file written to ``output_dir``.
RESULT_FILE = 'keypoint_results.json'


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for dicts, ``getattr`` for data elements."""
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def oks_iou(ref: np.ndarray, others: np.ndarray, ref_area: float,
            other_areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Object keypoint similarity of one pose to others.

    ``OKS = mean_k exp(-d_k^2 / (2 s^2 (2 sigma_k)^2))`` with ``s^2`` the
    mean of the two areas, over all keypoints (as mmpose's ``oks_iou``
    without a visibility threshold).

    Args:
        ref (np.ndarray): ``[K, 2]``.
        others (np.ndarray): ``[N, K, 2]``.
        ref_area (float): Area of ``ref`` (pixels^2).
        other_areas (np.ndarray): ``[N]``.
        sigmas (np.ndarray): ``[K]``.

    Returns:
        np.ndarray: ``[N]``.
    """
    var = (2 * sigmas)**2
    d2 = ((others - ref[None])**2).sum(-1)
    s2 = (ref_area + other_areas)[:, None] / 2 + np.spacing(1)
    return np.exp(-d2 / var[None] / s2 / 2).mean(-1)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray,
            thr: float, sigmas: np.ndarray) -> List[int]:
    """Greedy non-maximum suppression by OKS.

    Highest score first; every remaining pose whose OKS with a kept one is
    above ``thr`` is dropped. Hand-written because pycocotools has none;
    the rule is mmpose's ``oks_nms``.

    Args:
        keypoints (np.ndarray): ``[N, K, 2]``.
        scores (np.ndarray): ``[N]``.
        areas (np.ndarray): ``[N]``.
        thr (float): OKS threshold (0.9 in the COCO top-down recipes).
        sigmas (np.ndarray): ``[K]``.

    Returns:
        list[int]: Kept indices, highest score first.
    """
    order = np.argsort(-scores, kind='stable')
    keep: List[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        ovr = oks_iou(keypoints[i], keypoints[rest], areas[i], areas[rest],
                      sigmas)
        order = rest[ovr <= thr]
    return keep


@METRICS.register_module()
class CocoKeypointMetric(BaseMetric):
    """COCO keypoint AP, AP50, AP75, APm, APl and AR of top-down poses.

    Per image, as mmpose's ``CocoMetric`` with its defaults (the model it
    replaces; mmpose and its ``xtcocotools`` are not dependencies, README,
    Installation notes): predictions of one instance id are kept once;
    each pose is rescored (``score_mode='bbox_keypoint'``: box score times
    the mean of the keypoint scores above ``keypoint_score_thr``); OKS NMS
    (threshold ``nms_thr``, areas = the crop box area) removes duplicates;
    the survivors are written in the COCO result format and evaluated by
    pycocotools' ``COCOeval(iouType='keypoints')`` against ``ann_file``
    with the dataset's ``sigmas`` (OKS uses the ground-truth ``area``, as
    xtcocotools with ``use_area=True``). Every image of ``ann_file`` is
    evaluated. Metrics are reported as ``coco/AP`` ... ``coco/ARl``.

    Args:
        ann_file (str): The ground-truth ``person_keypoints_*.json``.
        score_mode (str): ``'bbox'``, ``'keypoint'`` or
            ``'bbox_keypoint'``. Defaults to ``'bbox_keypoint'``.
        keypoint_score_thr (float): Defaults to 0.2.
        nms_mode (str): ``'oks_nms'`` or ``'none'``. Defaults to
            ``'oks_nms'``.
        nms_thr (float): Defaults to 0.9.
        output_dir (str, optional): Also write the results there as
            ``keypoint_results.json`` (atomically); ``tools/test.py --out``
            sets it. Defaults to None.
        format_only (bool): Only write the results (needs ``output_dir``).
            Defaults to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Defaults to ``'coco'``.

    Raises:
        FileNotFoundError: ``ann_file`` does not exist (at evaluation).
        ValueError: An unknown mode, or ``format_only`` without
            ``output_dir``.
    """

    default_prefix: Optional[str] = 'coco'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 score_mode: str = 'bbox_keypoint',
                 keypoint_score_thr: float = 0.2,
                 nms_mode: str = 'oks_nms',
                 nms_thr: float = 0.9,
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if score_mode not in SCORE_MODES:
            raise ValueError(f'score_mode must be one of {SCORE_MODES}, got '
                             f'{score_mode!r}')
        if nms_mode not in ('oks_nms', 'none'):
            raise ValueError("nms_mode must be 'oks_nms' or 'none', got "
                             f'{nms_mode!r}')
        if format_only and not output_dir:
            raise ValueError('format_only=True needs output_dir')
        if not format_only and not ann_file:
            raise ValueError('CocoKeypointMetric needs ann_file (the ground-'
                             'truth person_keypoints_*.json)')
        self.ann_file = ann_file
        self.score_mode = score_mode
        self.keypoint_score_thr = float(keypoint_score_thr)
        self.nms_mode = nms_mode
        self.nms_thr = float(nms_thr)
        self.output_dir = output_dir
        self.format_only = format_only

    # ------------------------------------------------------------------
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep, per predicted instance: ids, keypoints, scores, area."""
        for sample in data_samples:
            pred = _get(sample, 'pred_instances')
            if pred is None:
                raise ValueError('CocoKeypointMetric needs pred_instances '
                                 '(keypoints, keypoint_scores) in each '
                                 'sample')
            kpts = _to_numpy(_get(pred, 'keypoints')).reshape(
                -1, *_to_numpy(_get(pred, 'keypoints')).shape[-2:])
            scores = _to_numpy(_get(pred, 'keypoint_scores')).reshape(
                kpts.shape[0], -1)
            bbox_scores = _get(pred, 'bbox_scores')
            bbox_scores = (np.ones(len(kpts)) if bbox_scores is None else
                           _to_numpy(bbox_scores).reshape(-1))
            scale = _get(sample, 'input_scale')
            if scale is not None:
                area = float(np.prod(_to_numpy(scale)))
            else:
                area = None
            img_id = _get(sample, 'img_id')
            inst_id = _get(sample, 'id')
            if img_id is None or inst_id is None:
                raise ValueError('CocoKeypointMetric needs img_id and id in '
                                 'the data samples (PackPoseInputs meta_keys)')
            for n in range(len(kpts)):
                k = kpts[n, :, :2].astype(np.float64)
                a = area if area is not None else float(
                    np.ptp(k[:, 0]) * np.ptp(k[:, 1]))
                self.results.append(
                    dict(id=_plain(inst_id),
                         img_id=_plain(img_id),
                         category_id=int(_get(sample, 'category_id', 1) or 1),
                         keypoints=k,
                         keypoint_scores=scores[n].astype(np.float64),
                         bbox_score=float(bbox_scores[n]),
                         area=a))

    def _rescore(self, inst: dict) -> float:
        kscores = inst['keypoint_scores']
        if self.score_mode == 'bbox':
            return inst['bbox_score']
        if self.score_mode == 'keypoint':
            return float(kscores.mean())
        valid = kscores[kscores > self.keypoint_score_thr]
        mean = float(valid.mean()) if valid.size else 0.0
        return inst['bbox_score'] * mean

    def to_coco_results(self, results: Sequence[dict],
                        sigmas: np.ndarray) -> List[dict]:
        """Deduplicate, rescore and NMS the instances of each image.

        Returns:
            list[dict]: COCO keypoint results (``image_id``,
            ``category_id``, ``keypoints`` ``[x, y, score] * K``,
            ``score``).
        """
        per_image: Dict[Any, Dict[Any, dict]] = defaultdict(dict)
        for inst in results:
            per_image[inst['img_id']].setdefault(inst['id'], inst)
        out = []
        for img_id in sorted(per_image, key=str):
            insts = [per_image[img_id][i] for i in sorted(per_image[img_id],
                                                          key=str)]
            scores = np.array([self._rescore(i) for i in insts])
            if self.nms_mode == 'oks_nms' and len(insts) > 1:
                keep = oks_nms(np.stack([i['keypoints'] for i in insts]),
                               scores, np.array([i['area'] for i in insts]),
                               self.nms_thr, sigmas)
            else:
                keep = list(range(len(insts)))
            for j in keep:
                inst = insts[j]
                kps = np.concatenate(
                    [inst['keypoints'], inst['keypoint_scores'][:, None]], 1)
                out.append(
                    dict(image_id=inst['img_id'],
                         category_id=inst['category_id'],
                         keypoints=[float(v) for v in kps.reshape(-1)],
                         score=float(scores[j])))
        return out

    def _write(self, coco_results: List[dict]) -> str:
        from vpd.utils.checkpoint import atomic_write_bytes
        os.makedirs(self.output_dir, exist_ok=True)
        path = osp.join(self.output_dir, RESULT_FILE)
        atomic_write_bytes(json.dumps(coco_results).encode('utf-8'), path)
        print_log(f'CocoKeypointMetric: wrote {len(coco_results)} poses to '
                  f'{path}', logger='current')
        return path

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """AP / AR over all images of ``ann_file``."""
        meta = self.dataset_meta or {}
        if 'sigmas' not in meta:
            raise KeyError('CocoKeypointMetric needs dataset_meta["sigmas"] '
                           '(the per-keypoint OKS falloff); use a dataset '
                           'with keypoint metainfo, e.g. CocoKeypointDataset')
        sigmas = np.asarray(meta['sigmas'], dtype=np.float64)
        coco_results = self.to_coco_results(results, sigmas)
        if self.output_dir:
            self._write(coco_results)
        if self.format_only:
            return {}
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'CocoKeypointMetric: ann_file "{self.ann_file}" does not '
                'exist')
        if not coco_results:
            print_log('CocoKeypointMetric: no predictions to evaluate; all '
                      'metrics are 0.', logger='current', level=30)
            return OrderedDict((k, 0.0) for k in STAT_NAMES)
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            gt = COCO(self.ann_file)
            dt = gt.loadRes(coco_results)
            ev = COCOeval(gt, dt, 'keypoints')
            ev.params.kpt_oks_sigmas = sigmas
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        print_log('\n' + log.getvalue().strip(), logger='current')
        return OrderedDict(
            (k, float(v)) for k, v in zip(STAT_NAMES, ev.stats))


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers (for JSON and dict keys)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    return value
