"""Load a depth map PNG in metres, with errors that name the file."""
from __future__ import annotations

import logging
from typing import Optional

import cv2
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from vpd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadDepthMap(BaseTransform):
    """Load ``depth_map_path`` as a float32 depth map in metres.

    Does what mmseg's ``LoadDepthAnnotation`` does (same output keys, so
    mmseg's ``RandomFlip``, ``RandomCrop``, ``Resize`` and ``PackSegInputs``
    handle the map through ``seg_fields``), with two differences that are
    the reason this class exists:

    - the scale comes from the data info's ``depth_rescale_factor`` (set by
      :class:`~vpd.datasets.NYUDepthDataset` to 1/1000 and
      :class:`~vpd.datasets.KITTIDepthDataset` to 1/256), unless given here;
      mmseg's loader ignores the data info and uses its own argument (1.0 by
      default, i.e. millimetres).
    - a missing, corrupt, multi-channel or wrongly sized file raises an error
      naming the file (mmseg's raises ``AttributeError`` on ``None`` for a
      corrupt file);
    - a map whose dtype is not ``expected_dtype`` (an 8-bit PNG, or a float
      map, where 16-bit integers are expected) raises an error naming the
      file, its dtype and the scale in use: scaled by 1/1000 an 8-bit PNG
      would silently become 0..0.255 m. A map without any positive value
      (no measurement at all) gets a warning naming the file and the scale.

    Required keys: ``depth_map_path``; ``depth_rescale_factor`` unless given
    here; ``img`` optional (its size is checked when present, so load the
    image first).

    Added keys: ``gt_depth_map`` (float32, HxW, metres),
    ``depth_rescale_factor``; ``'gt_depth_map'`` appended to ``seg_fields``.

    Args:
        depth_rescale_factor (float, optional): Multiply the stored values by
            this. None takes the data info's value. Defaults to None.
        check_shape (bool): Raise if an already loaded ``img`` and the depth
            map differ in height or width. Defaults to True.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
        expected_dtype (str, optional): The numpy dtype the stored maps must
            have: ``'uint16'`` for NYU (millimetres) and KITTI (metres x
            256). None accepts any dtype (e.g. float32 maps in metres with
            ``depth_rescale_factor=1.0``). Defaults to ``'uint16'``.
    """

    #: Maps without any positive value reported per transform instance.
    MAX_EMPTY_WARNINGS = 3

    def __init__(self,
                 depth_rescale_factor: Optional[float] = None,
                 check_shape: bool = True,
                 backend_args: Optional[dict] = None,
                 expected_dtype: Optional[str] = 'uint16') -> None:
        super().__init__()
        self.depth_rescale_factor = depth_rescale_factor
        self.check_shape = check_shape
        self.backend_args = backend_args.copy() if backend_args else None
        self.expected_dtype = (None if expected_dtype is None else
                               np.dtype(expected_dtype).name)
        self._num_empty_warned = 0

    def transform(self, results: dict) -> dict:
        """Load the depth map.

        Args:
            results (dict): Result dict with ``depth_map_path``.

        Returns:
            dict: The result dict with ``gt_depth_map``.
        """
        if 'depth_map_path' not in results:
            raise KeyError(
                f'{type(self).__name__} needs the key "depth_map_path" in the '
                'data info (set by the depth datasets).')
        path = results['depth_map_path']
        factor = self.depth_rescale_factor
        if factor is None:
            if results.get('depth_rescale_factor') is None:
                raise KeyError(
                    f'{type(self).__name__}: the data info of "{path}" has no '
                    '"depth_rescale_factor"; set it in the dataset or pass '
                    'depth_rescale_factor= to the transform.')
            factor = float(results['depth_rescale_factor'])
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise FileNotFoundError(
                f'depth map "{path}" does not exist.') from None
        depth = cv2.imdecode(
            np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if depth is None:
            raise ValueError(
                f'cannot decode depth map "{path}": the file is corrupt or '
                'not an image.')
        if depth.ndim != 2:
            raise ValueError(
                f'depth map "{path}" has shape {depth.shape}; expected a '
                'single-channel (H, W) image such as a uint16 PNG.')
        self._check_values(depth, path, factor)
        depth = depth.astype(np.float32) * np.float32(factor)

        img = results.get('img')
        if self.check_shape and img is not None and \
                tuple(img.shape[:2]) != depth.shape:
            raise ValueError(
                f'image "{results.get("img_path")}" is '
                f'{img.shape[0]}x{img.shape[1]} but depth map "{path}" is '
                f'{depth.shape[0]}x{depth.shape[1]}; they must have the same '
                'height and width.')

        results['gt_depth_map'] = depth
        results['depth_rescale_factor'] = factor
        seg_fields = results.setdefault('seg_fields', [])
        if 'gt_depth_map' not in seg_fields:
            seg_fields.append('gt_depth_map')
        return results

    @staticmethod
    def _scale_text(factor: float) -> str:
        inverse = 1.0 / factor if factor else 0.0
        if factor and abs(inverse - round(inverse)) < 1e-6 and inverse > 1:
            return f'stored value x 1/{round(inverse)} = metres'
        return f'stored value x {factor:g} = metres'

    def _check_values(self, depth: np.ndarray, path: str,
                      factor: float) -> None:
        """Refuse a map of the wrong dtype; warn about one without data."""
        scale = self._scale_text(factor)
        dtype = depth.dtype.name
        if self.expected_dtype is not None and dtype != self.expected_dtype:
            if depth.dtype.kind == 'f':
                hint = ('for float maps already in metres, set '
                        "LoadDepthMap(expected_dtype=None, "
                        'depth_rescale_factor=1.0)')
            else:
                hint = (f'{depth.dtype.itemsize * 8}-bit values cannot hold '
                        'the configured unit; re-export the depth maps as '
                        f'{self.expected_dtype} PNGs')
            raise ValueError(
                f'depth map "{path}" is {dtype}, expected '
                f'{self.expected_dtype} ({scale}); {hint}.')
        with np.errstate(invalid='ignore'):
            has_data = bool(np.any(depth > 0))
        if not has_data and self._num_empty_warned < self.MAX_EMPTY_WARNINGS:
            self._num_empty_warned += 1
            more = (' (further such maps are not reported)'
                    if self._num_empty_warned == self.MAX_EMPTY_WARNINGS
                    else '')
            print_log(
                f'depth map "{path}" has no positive value ({dtype}, '
                f'{scale}): it holds no ground truth{more}.',
                logger='current', level=logging.WARNING)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}('
                f'depth_rescale_factor={self.depth_rescale_factor}, '
                f'check_shape={self.check_shape}, '
                f'backend_args={self.backend_args}, '
                f'expected_dtype={self.expected_dtype!r})')
