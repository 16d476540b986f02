"""Pack a top-down pose sample for the model."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement, InstanceData, PixelData

from vpd.registry import TRANSFORMS

#: results key -> ``gt_instances`` field (one row per person, here one).
_INSTANCE_KEYS = {
    'bbox': 'bboxes',
    'bbox_score': 'bbox_scores',
    'bbox_center': 'bbox_centers',
    'bbox_scale': 'bbox_scales',
    'keypoints': 'keypoints',
    'keypoints_visible': 'keypoints_visible',
    'transformed_keypoints': 'transformed_keypoints',
}


@TRANSFORMS.register_module()
class PackPoseInputs(BaseTransform):
    """``inputs`` (``[3, h, w]`` uint8 tensor, BGR as loaded) + data sample.

    The data sample is an :class:`mmengine.structures.BaseDataElement` laid
    out as mmpose's ``PoseDataSample`` (which is not imported: mmpose is not
    a dependency, README, Installation notes): ``gt_instances``
    (``bboxes`` ``[1, 4]``, ``bbox_scores``, ``bbox_centers``,
    ``bbox_scales``, ``keypoints`` ``[1, K, 2]`` image pixels,
    ``keypoints_visible``, ``transformed_keypoints`` crop pixels),
    ``gt_instance_labels.keypoint_weights`` (tensor ``[1, K]``) and
    ``gt_fields.heatmaps`` (tensor ``[K, H, W]``) when targets were made,
    and the ``meta_keys`` present in the results as metainfo.

    Args:
        meta_keys (Sequence[str]): Metainfo keys.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = (
                     'id', 'img_id', 'img_path', 'category_id', 'area',
                     'ori_shape', 'img_shape', 'input_size', 'input_center',
                     'input_scale', 'input_rotation', 'warp_mat', 'flip',
                     'flip_direction', 'flip_indices')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(
            np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = BaseDataElement(metainfo={
            k: results[k]
            for k in self.meta_keys if k in results
        })
        gt = InstanceData()
        for src, dst in _INSTANCE_KEYS.items():
            if results.get(src) is not None:
                value = np.asarray(results[src], dtype=np.float32)
                if value.ndim == 0:
                    value = value.reshape(1)
                gt.set_field(value, dst)
        sample.gt_instances = gt
        if results.get('keypoint_weights') is not None:
            sample.gt_instance_labels = InstanceData(
                keypoint_weights=torch.as_tensor(results['keypoint_weights'],
                                                 dtype=torch.float32))
        if results.get('heatmaps') is not None:
            sample.gt_fields = PixelData(
                heatmaps=torch.as_tensor(results['heatmaps'],
                                         dtype=torch.float32))
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
