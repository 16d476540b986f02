"""File names for pictures of predictions: ``DIR/<image stem>.png``."""
import os.path as osp
from typing import Dict, Optional

__all__ = ['unique_output_path']


def unique_output_path(out_dir: str, img_path: Optional[str],
                       taken: Dict[str, str], suffix: str = '.png',
                       fallback: str = 'image') -> str:
    """``out_dir/<stem><suffix>``, never a name already handed out.

    Every task writes its pictures as ``DIR/<image stem>.png``. When two
    inputs share a stem, the later one is told apart by what differs:

    * another extension in the same folder (``a.jpg``, ``a.png``):
      ``DIR/a_png.png``;
    * another folder (KITTI's ``0000000069.png`` in every drive): its parent
      folders are prepended, nearest first, until the name is free
      (``DIR/data_0000000069.png``, ``DIR/image_02_data_0000000069.png``...);

    then a counter (``DIR/a_1.png``).

    Args:
        out_dir (str): The output folder.
        img_path (str, optional): The input image's path.
        taken (dict[str, str]): Names handed out so far, mapped to their
            input's absolute path; updated.
        suffix (str): Extension of the output. Defaults to ``'.png'``.
        fallback (str): Stem when there is no ``img_path``. Defaults to
            ``'image'``.

    Returns:
        str: The output path.
    """
    # (an input without a path is new every time)
    source = osp.abspath(img_path) if img_path else f'\0{len(taken)}'
    if img_path:
        stem, ext = osp.splitext(osp.basename(img_path))
    else:
        stem, ext = fallback, ''
    candidates = [stem]
    clash = taken.get(stem)
    if clash is not None and clash != source and ext and \
            osp.dirname(clash) == osp.dirname(source):
        candidates.append(f'{stem}_{ext.lstrip(".")}')
    name = stem
    folders = osp.dirname(source).split(osp.sep) if img_path else []
    for parent in reversed(folders):
        if parent:
            name = f'{parent}_{name}'
            candidates.append(name)
    for name in candidates:
        if taken.get(name, source) == source:
            break
    else:
        i = 1
        while f'{stem}_{i}' in taken:
            i += 1
        name = f'{stem}_{i}'
    taken[name] = source
    return osp.join(out_dir, name + suffix)
