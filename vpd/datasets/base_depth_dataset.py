"""Shared logic of the split-file depth datasets (NYU Depth v2, KITTI).

Both reference codebases (VPD, MetaPrompts, inherited from GLPDepth/BTS)
describe a split with a text file whose lines name an RGB image and its depth
map, each relative to a folder.  :class:`BaseDepthDataset` reads such a file
into mmengine data infos and validates it up front, so that a bad line fails
at start-up with the split file and the line number in the message instead of
hours later inside a dataloader worker.
"""
from __future__ import annotations

import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log


class BaseDepthDataset(BaseDataset):
    """A depth dataset described by a split file of ``image depth`` lines.

    Every data info carries ``img_path``, ``depth_map_path``,
    ``depth_rescale_factor`` (multiply the stored integers by it to get
    metres; :class:`~vpd.datasets.transforms.LoadDepthMap` reads it),
    ``seg_fields`` (an empty list, filled by the loaders), ``img_id`` (the
    image path as written in the split file, without its leading ``/``) and,
    when the split line has a third field, ``focal``.

    Subclasses set :attr:`DEPTH_RESCALE_FACTOR` and may override
    :meth:`parse_split_line`.

    Args:
        ann_file (str): The split file, relative to ``data_root`` unless
            absolute.
        data_root (str): The dataset root folder. Defaults to ''.
        data_prefix (dict): Folders (relative to ``data_root`` unless
            absolute) that the image (``img_path``) and depth
            (``depth_map_path``) columns of the split file are relative to.
            Defaults to ``dict(img_path='', depth_map_path='')``.
        check_files (bool): Check at start-up that every image and depth file
            named by the split exists (one ``stat`` per file). Turn off for
            remote storage. Defaults to True.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`
            (``pipeline``, ``test_mode``, ``indices``, ``lazy_init`` ...).
    """

    DEPTH_RESCALE_FACTOR: float = 1.0
    #: Accepted numbers of whitespace-separated fields on a split line.
    NUM_FIELDS: Sequence[int] = (2, 3)

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 check_files: bool = True,
                 **kwargs) -> None:
        if data_root and not osp.isdir(data_root):
            raise FileNotFoundError(
                f'{type(self).__name__}: data_root "{data_root}" does not '
                'exist or is not a folder. Configs name data/... relative to '
                'the repository root; put the data there, or set it with '
                '--cfg-options train_dataloader.dataset.data_root=PATH '
                'val_dataloader.dataset.data_root=PATH '
                'test_dataloader.dataset.data_root=PATH')
        if not ann_file:
            raise ValueError(
                f'{type(self).__name__} needs ann_file: the split file that '
                'lists "image depth" pairs.')
        if data_prefix is None:
            data_prefix = dict(img_path='', depth_map_path='')
        missing = {'img_path', 'depth_map_path'} - set(data_prefix)
        if missing:
            raise KeyError(
                f'{type(self).__name__}: data_prefix must have the keys '
                f'"img_path" and "depth_map_path"; missing {sorted(missing)}.')
        self.check_files = check_files
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    # ------------------------------------------------------------------
    def parse_split_line(self, fields: List[str], ann_file: str,
                         lineno: int) -> Optional[dict]:
        """Turn the fields of one split line into a partial data info.

        Args:
            fields (list[str]): The whitespace-separated fields of the line.
            ann_file (str): The split file (for error messages).
            lineno (int): The 1-based line number (for error messages).

        Returns:
            dict | None: ``img`` and ``depth`` (paths as written in the
            split file) and optionally ``focal``; None to skip the line.
        """
        if len(fields) not in self.NUM_FIELDS:
            expected = ' or '.join(str(n) for n in self.NUM_FIELDS)
            raise ValueError(
                f'{ann_file}, line {lineno}: expected {expected} '
                'whitespace-separated fields ("image depth" or "image depth '
                f'focal"), got {len(fields)}: {" ".join(fields)!r}')
        info = dict(img=fields[0], depth=fields[1])
        if len(fields) == 3:
            try:
                info['focal'] = float(fields[2])
            except ValueError:
                raise ValueError(
                    f'{ann_file}, line {lineno}: the third field (focal '
                    f'length) must be a number, got {fields[2]!r}') from None
        return info

    @staticmethod
    def _read_lines(ann_file: str) -> List[tuple]:
        """``(line number, text)`` of a UTF-8 split file.

        Raises:
            ValueError: A line is not valid UTF-8 (the message names the file,
                the line and the column).
        """
        with open(ann_file, 'rb') as f:
            raw_lines = f.read().splitlines()
        out = []
        for lineno, raw in enumerate(raw_lines, start=1):
            try:
                text = raw.decode('utf-8-sig' if lineno == 1 else 'utf-8')
            except UnicodeDecodeError as e:
                raise ValueError(
                    f'{ann_file}, line {lineno}: not UTF-8 text (byte '
                    f'0x{raw[e.start]:02x} at column {e.start + 1}); save '
                    'the split file as UTF-8.') from None
            if '\x00' in text:
                raise ValueError(
                    f'{ann_file}, line {lineno}: contains a NUL byte; the '
                    'split file must be a text file of "image depth" lines.')
            out.append((lineno, text))
        return out

    def load_data_list(self) -> List[dict]:
        """Read the split file into data infos.

        Returns:
            list[dict]: One data info per usable split line, in file order.
        """
        ann_file = self.ann_file
        if not osp.isfile(ann_file):
            raise FileNotFoundError(
                f'{type(self).__name__}: split file "{ann_file}" does not '
                'exist.')
        img_root = self.data_prefix.get('img_path', '')
        depth_root = self.data_prefix.get('depth_map_path', '')
        data_list = []
        num_skipped = 0
        for lineno, line in self._read_lines(ann_file):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            parsed = self.parse_split_line(line.split(), ann_file, lineno)
            if parsed is None:
                num_skipped += 1
                continue
            img_rel = parsed.pop('img').lstrip('/')
            depth_rel = parsed.pop('depth').lstrip('/')
            img_path = osp.join(img_root, img_rel)
            depth_path = osp.join(depth_root, depth_rel)
            if self.check_files:
                for kind, path in (('image', img_path),
                                   ('depth', depth_path)):
                    if not osp.isfile(path):
                        raise FileNotFoundError(
                            f'{ann_file}, line {lineno}: the {kind} file '
                            f'"{path}" does not exist.')
            info = dict(
                img_path=img_path,
                depth_map_path=depth_path,
                depth_rescale_factor=self.DEPTH_RESCALE_FACTOR,
                img_id=osp.splitext(img_rel)[0],
                split_line=f'{ann_file}, line {lineno}',
                seg_fields=[],
                **parsed)
            data_list.append(info)
        if num_skipped:
            print_log(
                f'{type(self).__name__}: skipped {num_skipped} line(s) of '
                f'{ann_file} without ground truth.', logger='current')
        if not data_list:
            raise ValueError(
                f'{type(self).__name__}: split file "{ann_file}" lists no '
                'usable samples.')
        return data_list

    def prepare_data(self, idx: int):
        """Run the pipeline on sample ``idx``; an error names its split line.

        A corrupt image (mmcv's loader), a corrupt depth map or an image /
        depth size mismatch is re-raised as a :class:`RuntimeError` that
        starts with the split file and line and names the image and depth
        files, chained to the original error.
        """
        try:
            return super().prepare_data(idx)
        except Exception as err:
            info = self.get_data_info(idx)
            raise RuntimeError(
                f'{info.get("split_line", f"sample {idx}")} (image '
                f'"{info.get("img_path")}", depth '
                f'"{info.get("depth_map_path")}"): '
                f'{type(err).__name__}: {err}') from err
