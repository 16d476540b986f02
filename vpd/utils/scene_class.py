"""Finding an image's scene class in its path, as the VPD reference does."""
import os.path as osp
from typing import Sequence


def scene_class_index(img_path: str, class_names: Sequence[str]) -> int:
    """The index of the scene class named in an image path.

    VPD builds ``<parent folder>_<file name>`` (e.g.
    ``study_room_0004_rgb_00149.jpg``) and takes the *first* class, in list
    order, that is a substring of it (so with the NYU list ``study_room``
    maps to ``study``, listed first). Only the last folder and the file name
    are used, so the data root can never match a class.

    Args:
        img_path (str): Image path.
        class_names (Sequence[str]): Class names in embedding order.

    Returns:
        int: The class index, or -1 if no class name occurs.
    """
    img_path = img_path.replace('\\', '/')
    parent = osp.basename(osp.dirname(img_path))
    key = f'{parent}_{osp.basename(img_path)}'
    for index, name in enumerate(class_names):
        if name in key:
            return index
    return -1
