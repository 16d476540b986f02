"""The binary mask of a referred object, from its COCO segmentation."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform

from vpd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadReferMask(BaseTransform):
    """Rasterise the referred object's segmentation to ``gt_seg_map``.

    As the reference (``refer/refer/refer.py`` ``REFER.getMask`` and
    ``refer/data/dataset_refer_clip.py``): polygons -> RLE with
    ``pycocotools.mask.frPyObjects`` at the image's ``height`` x ``width``
    -> decode -> summed over the polygons; a pixel is the target (1) when
    that sum is exactly 1, so a pixel covered by two polygons of one object
    is background (0). An RLE segmentation (refclef) is decoded as it is.

    Required keys: ``segmentation``, ``height``, ``width``; ``img``
    (optional: its size is checked against ``height`` x ``width``, so load
    the image first). Added keys: ``gt_seg_map`` (uint8 ``[H, W]``, 0/1),
    ``'gt_seg_map'`` appended to ``seg_fields``.

    Use it after ``Resize`` in a test pipeline to keep the ground truth at
    the original resolution (:class:`~vpd.evaluation.ReferringMetric`
    resizes it itself for the official 512x512 protocol), before ``Resize``
    in a training pipeline (the mask is resized with the image, nearest).

    Raises:
        ValueError: The loaded image is not ``height`` x ``width``, or the
            segmentation is empty or malformed.
    """

    def transform(self, results: dict) -> dict:
        """Add ``gt_seg_map``."""
        from pycocotools import mask as mask_utils
        h, w = int(results['height']), int(results['width'])
        img = results.get('img')
        if img is not None and tuple(img.shape[:2]) != (h, w):
            raise ValueError(
                f'image "{results.get("img_path")}" is '
                f'{img.shape[0]}x{img.shape[1]}, but instances.json says '
                f'{h}x{w}')
        seg = results['segmentation']
        try:
            if isinstance(seg, list):
                polys = [p for p in seg if len(p) >= 6]
                if not polys:
                    raise ValueError('no polygon with >= 3 points')
                rle = mask_utils.frPyObjects(polys, h, w)
            elif isinstance(seg, dict) and isinstance(seg.get('counts'),
                                                      list):
                rle = [mask_utils.frPyObjects(seg, h, w)]
            elif isinstance(seg, dict):
                rle = [seg]
            else:
                raise ValueError(f'unknown segmentation type '
                                 f'{type(seg).__name__}')
            m = mask_utils.decode(rle)
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(
                f'bad segmentation of ref {results.get("ref_id")} '
                f'(annotation {results.get("ann_id")}): {e}') from e
        if m.ndim == 2:
            m = m[..., None]
        target = (m.astype(np.int32).sum(axis=2) == 1).astype(np.uint8)
        results['gt_seg_map'] = target
        fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in fields:
            fields.append('gt_seg_map')
        return results
