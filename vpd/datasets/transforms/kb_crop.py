"""The KITTI benchmark crop (352x1216, bottom-centred)."""
from __future__ import annotations

from mmcv.transforms import BaseTransform

from vpd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class KBCrop(BaseTransform):
    """Cut the KITTI benchmark region from the image and its maps.

    KITTI frames are about 375x1242 and vary by a few pixels between drives;
    the reference (``do_kb_crop``) keeps the bottom ``height`` rows and the
    centred ``width`` columns: ``top = h - height``,
    ``left = (w - width) // 2``. Every key in ``seg_fields`` (the depth map)
    is cut the same way.

    The crop counts as part of loading: ``ori_shape`` is set to the cropped
    size (unless ``update_ori_shape=False``), so that a model resizing its
    prediction back to ``ori_shape`` produces a map aligned with the cropped
    ground truth, as the reference evaluates. ``kb_crop_offset`` =
    ``(top, left)`` records where the crop was taken.

    Required keys: ``img``; ``seg_fields`` entries optional.

    Modified keys: ``img``, ``img_shape``, ``ori_shape``, the
    ``seg_fields`` entries. Added keys: ``kb_crop_offset``.

    Args:
        height (int): Crop height. Defaults to 352.
        width (int): Crop width. Defaults to 1216.
        update_ori_shape (bool): Set ``ori_shape`` to the crop size.
            Defaults to True.
    """

    def __init__(self,
                 height: int = 352,
                 width: int = 1216,
                 update_ori_shape: bool = True) -> None:
        super().__init__()
        if height <= 0 or width <= 0:
            raise ValueError(
                f'KBCrop size must be positive, got {height}x{width}.')
        self.height = height
        self.width = width
        self.update_ori_shape = update_ori_shape

    def transform(self, results: dict) -> dict:
        """Crop image and maps.

        Args:
            results (dict): Result dict with ``img``.

        Returns:
            dict: The cropped result dict.
        """
        if 'img' not in results:
            raise KeyError(
                'KBCrop needs the key "img": load the image first.')
        img = results['img']
        img_path = results.get('img_path')
        h, w = img.shape[:2]
        if h < self.height or w < self.width:
            raise ValueError(
                f'KBCrop: image "{img_path}" is {h}x{w}, smaller than the '
                f'{self.height}x{self.width} crop.')
        top = h - self.height
        left = (w - self.width) // 2
        rows = slice(top, top + self.height)
        cols = slice(left, left + self.width)
        for key in results.get('seg_fields', []):
            value = results.get(key)
            if value is None:
                continue
            if tuple(value.shape[:2]) != (h, w):
                raise ValueError(
                    f'KBCrop: image "{img_path}" is {h}x{w} but "{key}" '
                    f'(from "{results.get("depth_map_path")}") is '
                    f'{value.shape[0]}x{value.shape[1]}.')
            results[key] = value[rows, cols, ...].copy()
        results['img'] = img[rows, cols, ...].copy()
        results['img_shape'] = (self.height, self.width)
        if self.update_ori_shape:
            results['ori_shape'] = (self.height, self.width)
        results['kb_crop_offset'] = (top, left)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(height={self.height}, '
                f'width={self.width}, '
                f'update_ori_shape={self.update_ori_shape})')
