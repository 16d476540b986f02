"""KITTI depth (Eigen split, annotated ground truth) as used by MetaPrompts."""
from __future__ import annotations

from typing import List, Optional

from vpd.registry import DATASETS
from .base_depth_dataset import BaseDepthDataset


@DATASETS.register_module()
class KITTIDepthDataset(BaseDepthDataset):
    """KITTI Eigen split with the official annotated depth maps.

    Two split formats are read, both with paths relative to the
    ``data_prefix`` folders:

    - GLPDepth / VPD / MetaPrompts ``eigen_benchmark`` lists (two fields,
      leading ``/``; set both prefixes to ``''`` and ``data_root`` to the
      folder holding ``raw_data`` and ``data_depth_annotated``), e.g.:

      /raw_data/2011_09_26/<drive>/image_02/data/<f>.png
      /data_depth_annotated/val/<drive>/proj_depth/groundtruth/image_02/<f>.png

      (one line; ``<drive>`` like ``2011_09_26_drive_0002_sync``,
      ``<f>`` like ``0000000069``)

    - BTS / AdaBins lists (three fields, the last the focal length; lines
      whose depth is ``None`` have no ground truth and are skipped, as the
      reference's training and evaluation skip them), e.g.:

      2011_09_26/<drive>/image_02/data/<f>.png
      <drive>/proj_depth/groundtruth/image_02/<f>.png 721.5377

      (one line)

    Depth PNGs are uint16 with metres x 256 (0 = no measurement), so
    ``depth_rescale_factor`` is 1/256. Images are about 375x1242; use
    :class:`~vpd.datasets.transforms.KBCrop` to cut the 352x1216 region used
    for training and evaluation (max depth 80 m, Garg crop in the metric).

    Args:
        ann_file (str): Split file, relative to ``data_root``.
            Defaults to 'train_list.txt'.
        data_root (str): Dataset root. Defaults to ''.
        data_prefix (dict, optional): Folders the image and depth columns are
            relative to. Defaults to ``''`` for both.
        check_files (bool): Check every listed file exists at start-up.
            Defaults to True.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(classes=())
    DEPTH_RESCALE_FACTOR = 1 / 256.0

    def __init__(self,
                 ann_file: str = 'train_list.txt',
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 check_files: bool = True,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='', depth_map_path='')
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            check_files=check_files,
            **kwargs)

    def parse_split_line(self, fields: List[str], ann_file: str,
                         lineno: int) -> Optional[dict]:
        """Parse one line; a ``None`` depth column skips the line.

        Args:
            fields (list[str]): The whitespace-separated fields of the line.
            ann_file (str): The split file (for error messages).
            lineno (int): The 1-based line number (for error messages).

        Returns:
            dict | None: The parsed fields, or None for a line without
            ground truth.
        """
        if len(fields) in self.NUM_FIELDS and fields[1] == 'None':
            return None
        return super().parse_split_line(fields, ann_file, lineno)
