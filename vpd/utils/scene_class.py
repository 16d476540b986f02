"""Finding an image's scene class in its path, as VPD or mmseg does."""
import os.path as osp
from typing import Sequence

#: The rules :func:`scene_class_index` knows.
SCENE_RULES = ('vpd', 'mmseg')


def _vpd_index(img_path: str, class_names: Sequence[str]) -> int:
    parent = osp.basename(osp.dirname(img_path))
    key = f'{parent}_{osp.basename(img_path)}'
    for index, name in enumerate(class_names):
        if name in key:
            return index
    return -1


def _mmseg_index(img_path: str, class_names: Sequence[str]) -> int:
    parent = osp.basename(osp.dirname(img_path))
    # mmseg's converter names kitchen_0028b/rgb_00045.jpg
    # kitchen_0028b_00045.jpg (its `x.replace('/rgb', '')`): the same file
    # name from the VPD layout, and mmseg's own names unchanged
    key = osp.basename(f'{parent}/{osp.basename(img_path)}'.replace(
        '/rgb', ''))
    digits = [i for i, ch in enumerate(key) if ch.isdigit()]
    if not digits or digits[0] == 0:
        return -1
    name = key[:digits[0] - 1]
    return list(class_names).index(name) if name in class_names else -1


def scene_class_index(img_path: str, class_names: Sequence[str],
                      rule: str = 'vpd') -> int:
    """The index of the scene class named in an image path.

    ``rule='vpd'`` (``wl-zhao/VPD`` ``depth/dataset/nyudepthv2.py``):
    build ``<parent folder>_<file name>`` (e.g.
    ``study_room_0004_rgb_00149.jpg``) and take the *first* class, in list
    order, that is a substring of it (so with the NYU list ``study_room``
    maps to ``study``, listed first, and ``office_kitchen`` to
    ``kitchen``).

    ``rule='mmseg'`` (mmsegmentation 1.2.2 ``mmseg/datasets/nyu.py``,
    ``NYUDataset._get_category_id_from_filename``): the exact class name
    before the first digit of the file name (``study_room_0004_00149.jpg``
    -> ``study_room``), the file name being mmseg's, i.e. the VPD layout's
    ``<scene>/rgb_<n>.jpg`` read as ``<scene>_<n>.jpg``. A name that is not
    a class (or a file name without digits) gives -1.

    Only the last folder and the file name are used, so the data root can
    never match a class.

    Args:
        img_path (str): Image path.
        class_names (Sequence[str]): Class names in embedding order.
        rule (str): ``'vpd'`` or ``'mmseg'``. Defaults to ``'vpd'``.

    Returns:
        int: The class index, or -1 if no class is found (the caller then
        uses the mean of the class embeddings, mmseg's appended mean row).

    Raises:
        ValueError: An unknown ``rule``.
    """
    if rule not in SCENE_RULES:
        raise ValueError(f'scene class rule must be one of {SCENE_RULES}, '
                         f'got "{rule}"')
    img_path = img_path.replace('\\', '/')
    if rule == 'mmseg':
        return _mmseg_index(img_path, class_names)
    return _vpd_index(img_path, class_names)
