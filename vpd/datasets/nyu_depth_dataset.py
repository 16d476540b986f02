"""NYU Depth v2 in the layout used by VPD / BTS / GLPDepth."""
from __future__ import annotations

from typing import Optional, Tuple

from vpd.registry import DATASETS
from vpd.utils.scene_class import scene_class_index
from .base_depth_dataset import BaseDepthDataset

#: The 27 NYU Depth v2 scene types, in the order of VPD's
#: ``depth/nyu_class_list.json`` (index = row of the class embeddings).
#: ``excercise_room`` is spelled as in the dataset.
NYU_SCENE_CLASSES: Tuple[str, ...] = (
    'printer_room', 'bathroom', 'living_room', 'study', 'conference_room',
    'study_room', 'kitchen', 'home_office', 'bedroom', 'dinette', 'playroom',
    'indoor_balcony', 'laundry_room', 'basement', 'excercise_room', 'foyer',
    'home_storage', 'cafe', 'furniture_store', 'office_kitchen',
    'student_lounge', 'dining_room', 'reception_room', 'computer_lab',
    'classroom', 'office', 'bookstore')


def get_nyu_scene_index(img_path: str,
                        classes: Tuple[str, ...] = NYU_SCENE_CLASSES) -> int:
    """The scene class of an NYU image, found the way VPD finds it.

    VPD builds ``<parent folder>_<file name>`` (e.g.
    ``study_room_0004_rgb_00149.jpg``) and takes the *first* class, in list
    order, that is a substring of it. So ``study_room_0004`` maps to
    ``study`` (index 3, listed before ``study_room``) and
    ``office_kitchen_0003`` to ``kitchen``; this function keeps that
    behaviour so that released class embeddings are used as trained.

    Args:
        img_path (str): Path of the RGB image (only its last folder and its
            file name are used, so the data root cannot match a class).
        classes (tuple[str]): Class names in embedding order. Defaults to
            :data:`NYU_SCENE_CLASSES`.

    Returns:
        int: The class index, or -1 if no class name occurs.
    """
    return scene_class_index(img_path, classes)


@DATASETS.register_module()
class NYUDepthDataset(BaseDepthDataset):
    """NYU Depth v2 (Eigen split) as read by VPD.

    Layout (``data_root`` = the reference's ``nyu_depth_v2`` folder)::

        data_root/
          sync/<scene>_<id>/rgb_00045.jpg, sync_depth_00045.png    (train)
          official_splits/test/<scene type>/rgb_00045.jpg, ...     (test)
          train_list.txt  test_list.txt                            (splits)

    Split lines are ``/kitchen_0028b/rgb_00045.jpg
    /kitchen_0028b/sync_depth_00045.png`` (VPD's
    ``depth/dataset/filenames/nyudepthv2/*.txt``), both paths relative to
    the ``data_prefix`` folders; BTS-style lines with a third field (focal
    length) are accepted too. Depth PNGs are uint16 millimetres, so
    ``depth_rescale_factor`` is 1/1000. ``tools/dataset_converters/nyu.py``
    makes the test half from the official ``.mat`` files.

    The metainfo ``classes`` are the 27 scene types
    (:data:`NYU_SCENE_CLASSES`); the model finds an image's scene from its
    path (:func:`get_nyu_scene_index`), so data infos carry no class id.

    Args:
        ann_file (str): Split file, relative to ``data_root``.
            Defaults to 'train_list.txt'.
        data_root (str): Dataset root. Defaults to ''.
        data_prefix (dict, optional): Folders the two split columns are
            relative to. Defaults to ``sync`` for both (training); use
            ``official_splits/test`` for the test split.
        check_files (bool): Check every listed file exists at start-up.
            Defaults to True.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(classes=NYU_SCENE_CLASSES)
    DEPTH_RESCALE_FACTOR = 1 / 1000.0

    def __init__(self,
                 ann_file: str = 'train_list.txt',
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 check_files: bool = True,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='sync', depth_map_path='sync')
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            check_files=check_files,
            **kwargs)
