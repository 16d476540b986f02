"""RefCOCO / RefCOCO+ / G-Ref in the REFER layout (VPD / LAVT refer).

Layout (``data_root`` = the reference's ``refer/data``)::

    data_root/
      images/mscoco/images/train2014/COCO_train2014_000000000009.jpg ...
      refcoco/instances.json  refs(unc).p  refs(google).p
      refcoco+/instances.json refs(unc).p
      refcocog/instances.json refs(umd).p  refs(google).p

``refs(<split_by>).p`` is a pickled list of refs (``ref_id``, ``ann_id``,
``image_id``, ``category_id``, ``split``, ``sent_ids``, ``sentences`` =
``[{sent_id, tokens, raw, sent}]``, ``file_name``); ``instances.json`` is
COCO-style (``images``, ``annotations`` with polygon ``segmentation``,
``categories``). Read as the reference's ``REFER`` API does
(``refer/refer/refer.py``), but the pickle goes through
:func:`load_refs_pickle` (:func:`vpd.utils.checkpoint.
restricted_pickle_load`), which only rebuilds plain containers and
scalars, so a malicious file cannot run code.
"""
from __future__ import annotations

import json
import os.path as osp
from typing import Any, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from vpd.registry import DATASETS

#: ``split`` values of :class:`ReferDataset` and how refs are matched, as
#: ``REFER.getRefIds``: ``testA`` / ``testB`` / ``testC`` take every ref
#: whose split contains that letter (``testAB`` too), ``test`` every ref
#: whose split contains "test", the others match exactly.
SPLITS = ('train', 'val', 'test', 'testA', 'testB', 'testC', 'testAB',
          'testBC', 'testAC')


def load_refs_pickle(path: str) -> Any:
    """Read a ``refs(*).p`` file without running code from it.

    A thin use of :func:`vpd.utils.checkpoint.restricted_pickle_load`, which
    rebuilds only plain containers and scalars (any other global, such as
    ``os.system``, is refused); the REFER files are Python-2 pickles of
    plain data. Python 2 ``str`` objects are decoded as UTF-8 (the
    reference's ``pickle.load`` uses ASCII; UTF-8 reads every ASCII file
    the same way).

    Args:
        path (str): The pickle file.

    Returns:
        Any: The unpickled plain data (a list of ref dicts for REFER).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: The file names a global that is not plain
            data; the message names the file and the global.
        CheckpointError: The file is not a readable pickle (names it).
    """
    from vpd.utils.checkpoint import restricted_pickle_load
    if not osp.isfile(path):
        raise FileNotFoundError(f'REFER refs file "{path}" does not exist')
    return restricted_pickle_load(path, encoding='utf-8')


def _ref_matches(ref_split: str, split: str) -> bool:
    if split in ('testA', 'testB', 'testC'):
        return split[-1] in ref_split
    if split == 'test':
        return 'test' in ref_split
    return ref_split == split


@DATASETS.register_module()
class ReferDataset(BaseDataset):
    """A REFER dataset: one referred object with its sentences per sample.

    Training (``test_mode=False``): one sample per ref; each time a sample
    is drawn one of its sentences is picked at random (``numpy.random``,
    which mmengine seeds per worker from ``randomness.seed``: reproducible),
    as the reference's training set. Evaluation (``test_mode=True``): one
    sample per sentence, every sentence of every ref, as the reference's
    test. Each data info holds ``img_path``, ``text`` (the sentence; in
    training set when drawn), ``ref_id``, ``sent_id``, ``ann_id``,
    ``image_id``, ``split``, ``sentences``, ``sent_ids``, the annotation's
    ``segmentation`` and the image ``height`` / ``width`` (for
    :class:`~vpd.datasets.transforms.LoadReferMask`).

    Horizontal flips are refused: they would turn "the man on the left"
    into a wrong label.

    Args:
        data_root (str): The REFER ``data`` folder.
        dataset (str): Sub-folder: ``'refcoco'``, ``'refcoco+'``,
            ``'refcocog'`` (or any other in this layout). Defaults to
            ``'refcoco'``.
        split_by (str): ``refs(<split_by>).p``: ``'unc'`` (RefCOCO,
            RefCOCO+), ``'umd'`` (G-Ref, official VPD) or ``'google'``.
            Defaults to ``'unc'``.
        split (str): One of :data:`SPLITS`. Defaults to ``'train'``.
        data_prefix (dict): ``img_path``: the image folder, relative to
            ``data_root`` unless absolute. Defaults to the reference's
            ``images/mscoco/images/train2014``.
        sentence_key (str): Sentence field: ``'sent'`` (lower-cased,
            cleaned; VPD) or ``'raw'`` (LAVT). Defaults to ``'sent'``.
        check_files (bool): Check at start-up that every image exists.
            Defaults to True.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ``indices``, ``lazy_init``, ...).

    Raises:
        FileNotFoundError: ``refs(<split_by>).p``, ``instances.json`` or an
            image is missing (the message names it, with the split and ref
            id for an image).
        ValueError: Unknown or empty split, a ref without sentences or with
            an empty sentence, a horizontal flip in the pipeline.
        KeyError: A ref whose annotation or image is not in
            ``instances.json`` (names the file, split, ref and ids).
    """

    METAINFO = dict(classes=('background', 'target'),
                    palette=[[0, 0, 0], [255, 64, 0]])

    def __init__(self,
                 data_root: str = '',
                 dataset: str = 'refcoco',
                 split_by: str = 'unc',
                 split: str = 'train',
                 data_prefix: Optional[dict] = None,
                 sentence_key: str = 'sent',
                 check_files: bool = True,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'ReferDataset: unknown split "{split}"; '
                             f'expected one of {SPLITS}')
        if sentence_key not in ('sent', 'raw'):
            raise ValueError(f'ReferDataset: sentence_key must be "sent" or '
                             f'"raw", got "{sentence_key}"')
        if data_root and not osp.isdir(data_root):
            raise FileNotFoundError(f'ReferDataset: data_root "{data_root}" '
                                    'does not exist or is not a folder')
        _refuse_flip(kwargs.get('pipeline') or [])
        self.dataset = dataset
        self.split_by = split_by
        self.split = split
        self.sentence_key = sentence_key
        self.check_files = check_files
        if data_prefix is None:
            data_prefix = dict(img_path='images/mscoco/images/train2014')
        kwargs.pop('ann_file', None)
        super().__init__(
            ann_file=osp.join(dataset, f'refs({split_by}).p'),
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    # ------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """Read the refs and instances into data infos (see the class)."""
        refs_file = self.ann_file
        inst_file = osp.join(osp.dirname(refs_file), 'instances.json')
        refs = load_refs_pickle(refs_file)
        if not isinstance(refs, list):
            raise ValueError(f'"{refs_file}" must hold a list of refs, got '
                             f'{type(refs).__name__}')
        if not osp.isfile(inst_file):
            raise FileNotFoundError(
                f'ReferDataset: "{inst_file}" does not exist (the COCO '
                f'annotations next to {osp.basename(refs_file)})')
        with open(inst_file, encoding='utf-8') as f:
            instances = json.load(f)
        anns = {a['id']: a for a in instances.get('annotations', [])}
        imgs = {i['id']: i for i in instances.get('images', [])}
        img_root = self.data_prefix.get('img_path', '')
        where = f'{refs_file}, split "{self.split}"'

        selected = [r for r in refs if _ref_matches(str(r.get('split')),
                                                    self.split)]
        if not selected:
            present = sorted({str(r.get('split')) for r in refs})
            raise ValueError(
                f'ReferDataset: split "{self.split}" is empty or missing in '
                f'"{refs_file}" (splits in the file: {present or "none"}); '
                f'{self.split_by} splits are train/val/testA/testB (unc) or '
                'train/val/test (umd)')
        data_list = []
        for ref in selected:
            ref_id = ref.get('ref_id')
            ann = anns.get(ref.get('ann_id'))
            if ann is None:
                raise KeyError(
                    f'{where}, ref {ref_id}: annotation {ref.get("ann_id")} '
                    f'is not in "{inst_file}"')
            img = imgs.get(ref.get('image_id'))
            if img is None:
                raise KeyError(
                    f'{where}, ref {ref_id}: image {ref.get("image_id")} is '
                    f'not in "{inst_file}"')
            sentences = [s.get(self.sentence_key, '')
                         for s in ref.get('sentences') or []]
            sent_ids = list(ref.get('sent_ids') or [
                s.get('sent_id') for s in ref.get('sentences') or []])
            if not sentences:
                raise ValueError(f'{where}, ref {ref_id}: no sentences')
            for sent_id, sent in zip(sent_ids, sentences):
                if not isinstance(sent, str) or not sent.strip():
                    raise ValueError(f'{where}, ref {ref_id}: sentence '
                                     f'{sent_id} is empty')
            seg = ann.get('segmentation')
            if not seg:
                raise ValueError(f'{where}, ref {ref_id}: annotation '
                                 f'{ann["id"]} has no segmentation')
            img_path = osp.join(img_root, img['file_name'])
            if self.check_files and not osp.isfile(img_path):
                raise FileNotFoundError(
                    f'{where}, ref {ref_id}: image "{img_path}" does not '
                    'exist')
            info = dict(
                img_path=img_path,
                ref_id=ref_id,
                ann_id=ann['id'],
                image_id=img['id'],
                category_id=ref.get('category_id'),
                split=ref.get('split'),
                sentences=sentences,
                sent_ids=sent_ids,
                segmentation=seg,
                height=int(img['height']),
                width=int(img['width']),
                seg_fields=[],
                reduce_zero_label=False)
            if self.test_mode:
                for sent_id, sent in zip(sent_ids, sentences):
                    data_list.append(dict(info, text=sent, sent_id=sent_id))
            else:
                data_list.append(info)
        return data_list

    def prepare_data(self, idx: int) -> Any:
        """Pick the sentence (training) and run the pipeline.

        Any error of the pipeline (e.g. an image that does not load) is
        re-raised as a ``RuntimeError`` naming the image, split and ref id.
        """
        info = self.get_data_info(idx)
        if not self.test_mode:
            k = int(np.random.randint(len(info['sentences'])))
            info['text'] = info['sentences'][k]
            info['sent_id'] = info['sent_ids'][k]
        try:
            return self.pipeline(info)
        except Exception as err:
            raise RuntimeError(
                f'ReferDataset {self.dataset} split "{self.split}", ref '
                f'{info.get("ref_id")} (image "{info.get("img_path")}"): '
                f'{type(err).__name__}: {err}') from err


def _refuse_flip(pipeline: Sequence) -> None:
    """Raise if the pipeline flips images horizontally (see the class)."""
    for step in pipeline:
        if not isinstance(step, dict):
            continue
        kind = str(step.get('type', ''))
        if kind.split('.')[-1] not in ('RandomFlip', 'RandomHorizontalFlip'):
            continue
        prob = step.get('prob', 0.5)
        probs = prob if isinstance(prob, (list, tuple)) else [prob]
        directions = step.get('direction', 'horizontal')
        directions = (directions if isinstance(directions, (list, tuple))
                      else [directions])
        if any(p for p in probs) and 'horizontal' in directions:
            raise ValueError(
                'ReferDataset: the pipeline has a horizontal flip '
                f'({step}); flipping makes sentences with left/right wrong. '
                'Remove it (the official recipe uses no augmentation).')

