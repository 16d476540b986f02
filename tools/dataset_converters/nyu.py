"""Extract the official NYU Depth v2 split from the labelled ``.mat`` file.

Writes the layout :class:`vpd.datasets.NYUDepthDataset` reads::

    out_dir/official_splits/test/<scene type>/rgb_00045.jpg
    out_dir/official_splits/test/<scene type>/sync_depth_00045.png
    out_dir/test_list.txt
        (lines like "/bathroom/rgb_00045.jpg /bathroom/sync_depth_00045.png")

Inputs (http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/):

- ``nyu_depth_v2_labeled.mat``: MATLAB v7.3, i.e. HDF5, read with h5py. Its
  arrays come out transposed: ``images`` [N, 3, W, H] uint8 RGB,
  ``rawDepths`` / ``depths`` [N, W, H] metres, ``sceneTypes`` [1, N]
  references to character arrays.
- ``splits.mat``: MATLAB v5, read with scipy; ``testNdxs`` / ``trainNdxs``
  hold 1-based image indices (654 test, 795 train).

As the extraction script used by VPD/BTS: files are numbered by the 0-based
image index, depth is the *raw* depth (``rawDepths``, zeros where the sensor
had no return; ``--depth-key depths`` takes the in-painted maps instead)
stored as ``uint16(depth * 1000)`` (millimetres, truncated), and the RGB
image keeps only rows 7:474 and columns 7:632 (the rest set to black, the
border where the registered depth is undefined; ``--no-black-border``
keeps it).

Usage::

    python tools/dataset_converters/nyu.py nyu_depth_v2_labeled.mat \
        splits.mat -o data/nyu_depth_v2
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

#: Rows / columns of a 480x640 image kept by the reference (the rest black).
_KEEP_ROWS = (7, 474)
_KEEP_COLS = (7, 632)
#: Split name -> (index key in splits.mat, output folder, split file name).
_SPLITS = {
    'test': ('testNdxs', 'official_splits/test', 'test_list.txt'),
    'train': ('trainNdxs', 'official_splits/train', 'official_train_list.txt'),
}


def _load_split_indices(splits_file: str, key: str) -> List[int]:
    """1-based indices of one split from ``splits.mat``."""
    import scipy.io
    if not osp.isfile(splits_file):
        raise FileNotFoundError(f'splits file "{splits_file}" does not exist.')
    try:
        mat = scipy.io.loadmat(splits_file)
    except Exception as e:  # scipy raises several types for bad files
        raise ValueError(
            f'cannot read "{splits_file}" as a MATLAB file: {e}') from e
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith('__'))
        raise KeyError(
            f'"{splits_file}" has no "{key}" array (found: {found}).')
    return [int(i) for i in np.asarray(mat[key]).ravel()]


def _decode_scene(h5file, ref) -> str:
    """Decode one MATLAB char array referenced from ``sceneTypes``."""
    chars = np.asarray(h5file[ref]).ravel()
    return ''.join(chr(int(c)) for c in chars)


def convert_nyu(mat_file: str,
                splits_file: str,
                out_dir: str,
                splits: Sequence[str] = ('test', ),
                depth_key: str = 'rawDepths',
                black_border: bool = True,
                show_progress: bool = True) -> Dict[str, str]:
    """Extract official NYU splits to JPEG/PNG files and split lists.

    Args:
        mat_file (str): ``nyu_depth_v2_labeled.mat``.
        splits_file (str): ``splits.mat``.
        out_dir (str): Output root (the dataset's ``data_root``).
        splits (Sequence[str]): Any of 'test', 'train'. Defaults to
            ('test',).
        depth_key (str): 'rawDepths' (as the reference) or 'depths'.
            Defaults to 'rawDepths'.
        black_border (bool): Black out the image border as the reference.
            Defaults to True.
        show_progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict[str, str]: Split name -> path of the written split file.
    """
    import h5py
    for split in splits:
        if split not in _SPLITS:
            raise ValueError(
                f'unknown split {split!r}; choose from {sorted(_SPLITS)}.')
    if not osp.isfile(mat_file):
        raise FileNotFoundError(f'mat file "{mat_file}" does not exist.')
    indices = {
        split: _load_split_indices(splits_file, _SPLITS[split][0])
        for split in splits
    }
    try:
        h5 = h5py.File(mat_file, 'r')
    except OSError as e:
        raise ValueError(
            f'cannot open "{mat_file}" with h5py: {e}. The labelled NYU file '
            'is MATLAB v7.3 (HDF5); re-download it if it is truncated.') from e
    written = {}
    with h5:
        for key in ('images', depth_key, 'sceneTypes'):
            if key not in h5:
                raise KeyError(
                    f'"{mat_file}" has no "{key}" dataset (found: '
                    f'{sorted(h5.keys())}).')
        images, depths = h5['images'], h5[depth_key]
        num = images.shape[0]
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f'"{mat_file}": "images" has shape {images.shape}; expected '
                '[N, 3, W, H].')
        if depths.shape[0] != num or depths.shape[1:] != images.shape[2:]:
            raise ValueError(
                f'"{mat_file}": "{depth_key}" has shape {depths.shape}, not '
                f'matching images {images.shape}.')
        scene_refs = np.asarray(h5['sceneTypes']).ravel()
        if scene_refs.size != num:
            raise ValueError(
                f'"{mat_file}": "sceneTypes" has {scene_refs.size} entries '
                f'for {num} images.')

        for split in splits:
            _, folder, list_name = _SPLITS[split]
            bad = [i for i in indices[split] if not 1 <= i <= num]
            if bad:
                raise ValueError(
                    f'"{splits_file}": {split} indices {bad[:5]} are outside '
                    f'1..{num} (the mat file has {num} images).')
            lines = []
            progress = _progress(len(indices[split]), show_progress)
            for index in indices[split]:
                i = index - 1
                scene = _decode_scene(h5, scene_refs[i])
                scene_dir = osp.join(out_dir, folder, scene)
                os.makedirs(scene_dir, exist_ok=True)
                rgb = np.asarray(images[i]).transpose(2, 1, 0)  # H, W, 3
                if black_border:
                    kept = np.zeros_like(rgb)
                    rows, cols = slice(*_KEEP_ROWS), slice(*_KEEP_COLS)
                    kept[rows, cols] = rgb[rows, cols]
                    rgb = kept
                depth = np.asarray(depths[i], dtype=np.float64).T  # H, W
                depth_mm = np.clip(depth * 1000.0, 0, 65535).astype(np.uint16)
                img_name = f'rgb_{i:05d}.jpg'
                depth_name = f'sync_depth_{i:05d}.png'
                if not cv2.imwrite(
                        osp.join(scene_dir, img_name),
                        np.ascontiguousarray(rgb[..., ::-1])):
                    raise OSError(f'cannot write {scene_dir}/{img_name}')
                if not cv2.imwrite(
                        osp.join(scene_dir, depth_name), depth_mm):
                    raise OSError(f'cannot write {scene_dir}/{depth_name}')
                lines.append((scene, i, f'/{scene}/{img_name} '
                              f'/{scene}/{depth_name}'))
                if progress is not None:
                    progress.update()
            lines.sort()
            list_path = osp.join(out_dir, list_name)
            with open(list_path, 'w', encoding='utf-8') as f:
                f.write(''.join(line + '\n' for _, _, line in lines))
            written[split] = list_path
    return written


def _progress(total: int, enabled: bool):
    """An mmengine progress bar, or None."""
    if not enabled or total == 0:
        return None
    from mmengine.utils import ProgressBar
    return ProgressBar(total, file=sys.stdout)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Extract the official NYU Depth v2 test (and train) '
        'split from nyu_depth_v2_labeled.mat + splits.mat.')
    parser.add_argument('mat_file', help='nyu_depth_v2_labeled.mat')
    parser.add_argument('splits_file', help='splits.mat')
    parser.add_argument(
        '-o', '--out-dir', default='data/nyu_depth_v2',
        help='output root (the dataset data_root)')
    parser.add_argument(
        '--splits', nargs='+', default=['test'], choices=sorted(_SPLITS),
        help='splits to extract (train goes to official_splits/train and '
        'official_train_list.txt)')
    parser.add_argument(
        '--depth-key', default='rawDepths', choices=['rawDepths', 'depths'],
        help='raw sensor depth (reference) or in-painted depth')
    parser.add_argument(
        '--no-black-border', action='store_true',
        help='keep the image border the reference blacks out')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """Run the converter from the command line."""
    args = parse_args(argv)
    written = convert_nyu(
        args.mat_file,
        args.splits_file,
        args.out_dir,
        splits=args.splits,
        depth_key=args.depth_key,
        black_border=not args.no_black_border,
        show_progress=not args.no_progress)
    for split, path in written.items():
        print(f'\n{split}: {path}')
    return written


if __name__ == '__main__':
    # vpd (and torch) is imported only if there is an error to report
    _argv = sys.argv[1:]
    try:
        _status = main([a for a in _argv if a != '--debug'])
    except Exception as _exc:  # noqa: BLE001 - one line for user errors
        from vpd.utils.cli import handle_tool_error
        handle_tool_error(_exc, '--debug' in _argv)
    sys.exit(_status if isinstance(_status, int) else 0)
