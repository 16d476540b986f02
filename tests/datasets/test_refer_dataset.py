"""ReferDataset, LoadReferMask and the safe refs(*).p reader, on small
REFER fixtures written by tools/dataset_converters/make_synthetic_refer.py."""
import json
import os
import os.path as osp
import pickle
import shutil

import numpy as np
import pytest

from _tools import load_tool  # noqa: E402
from vpd.datasets import LoadReferMask, ReferDataset, load_refs_pickle
from vpd.utils.checkpoint import CheckpointError, UnsafeCheckpointError

PIPELINE = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='LoadReferMask'),
    dict(type='PackSegInputs',
         meta_keys=('img_path', 'ori_shape', 'img_shape', 'text', 'ref_id',
                    'sent_id')),
]


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('refer') / 'data')
    tool = load_tool('dataset_converters', 'make_synthetic_refer')
    meta = tool.make_synthetic_refer(root, num_train=3, num_val=2, size=32,
                                     seed=1)
    return root, meta


def _copy(synth, tmp_path):
    root = str(tmp_path / 'data')
    shutil.copytree(synth[0], root)
    return root


def _build(root, **kw):
    kw.setdefault('pipeline', PIPELINE)
    return ReferDataset(data_root=root, dataset='synthetic', split_by='unc',
                        **kw)


def test_parse_train_and_test_modes(synth):
    root, meta = synth
    train = _build(root, split='train')
    assert len(train) == 3 * 3  # one sample per referred object
    info = train.get_data_info(0)
    assert set(info) >= {'img_path', 'ref_id', 'ann_id', 'sentences',
                         'sent_ids', 'segmentation', 'height', 'width'}
    assert info['height'] == info['width'] == 32
    assert osp.isfile(info['img_path'])
    val = _build(root, split='val', test_mode=True)
    assert len(val) == meta['splits']['val']['sentences']  # every sentence
    texts = [val.get_data_info(i)['text'] for i in range(len(val))]
    assert all(t.startswith('the ') for t in texts)
    # a drawn training sample carries one of its ref's sentences; the
    # choice follows numpy's seed (mmengine seeds it per worker)
    np.random.seed(3)
    a = [train[i]['data_samples'].text for i in range(len(train))]
    np.random.seed(3)
    b = [train[i]['data_samples'].text for i in range(len(train))]
    assert a == b
    sample = train[0]['data_samples']
    assert sample.text in train.get_data_info(0)['sentences']
    assert sample.ref_id == info['ref_id']
    mask = sample.gt_sem_seg.data[0].numpy()
    assert mask.shape == (32, 32) and set(np.unique(mask)) == {0, 1}


def test_mask_matches_polygon_and_one_rule():
    from pycocotools import mask as mask_utils
    square = [2, 2, 10, 2, 10, 10, 2, 10]
    other = [6, 6, 14, 6, 14, 14, 6, 14]
    res = LoadReferMask()(dict(segmentation=[square, other], height=16,
                               width=16, seg_fields=[]))
    m = res['gt_seg_map']
    rle = mask_utils.frPyObjects([square, other], 16, 16)
    both = mask_utils.decode(rle).sum(2)
    assert m.dtype == np.uint8 and res['seg_fields'] == ['gt_seg_map']
    # pixels covered by both polygons are background, as the reference
    assert (both == 2).any()
    np.testing.assert_array_equal(m, (both == 1).astype(np.uint8))
    with pytest.raises(ValueError, match='instances.json says 16x16'):
        LoadReferMask()(dict(segmentation=[square], height=16, width=16,
                             img=np.zeros((8, 8, 3), np.uint8),
                             img_path='x.jpg'))


def test_split_errors(synth, tmp_path):
    root = synth[0]
    with pytest.raises(ValueError, match='unknown split "dev"'):
        _build(root, split='dev')
    with pytest.raises(ValueError) as err:
        _build(root, split='testA')  # unc name, absent from this file
    assert 'refs(unc).p' in str(err.value) and 'testA' in str(err.value)
    assert "['train', 'val']" in str(err.value)
    empty = _copy(synth, tmp_path)
    with open(osp.join(empty, 'synthetic', 'refs(unc).p'), 'wb') as f:
        pickle.dump([], f)
    with pytest.raises(ValueError, match='"val" is empty or missing'):
        _build(empty, split='val', test_mode=True)
    with pytest.raises(FileNotFoundError, match=r'refs\(umd\).p'):
        ReferDataset(data_root=root, dataset='synthetic', split_by='umd')


def test_missing_annotation_and_image_errors(synth, tmp_path):
    root = _copy(synth, tmp_path)
    inst_file = osp.join(root, 'synthetic', 'instances.json')
    with open(inst_file) as f:
        inst = json.load(f)
    refs = load_refs_pickle(osp.join(root, 'synthetic', 'refs(unc).p'))
    ref = [r for r in refs if r['split'] == 'val'][1]
    inst['annotations'] = [a for a in inst['annotations']
                           if a['id'] != ref['ann_id']]
    with open(inst_file, 'w') as f:
        json.dump(inst, f)
    with pytest.raises(KeyError) as err:
        _build(root, split='val', test_mode=True)
    msg = str(err.value)
    assert 'split "val"' in msg and f'ref {ref["ref_id"]}' in msg
    assert f'annotation {ref["ann_id"]}' in msg and 'instances.json' in msg
    # a missing image: named at start-up with split and ref id
    train = [r for r in refs if r['split'] == 'train'][0]
    img_dir = osp.join(root, 'images', 'mscoco', 'images', 'train2014')
    os.remove(osp.join(img_dir, train['file_name']))
    with pytest.raises(FileNotFoundError) as err:
        _build(root, split='train')
    assert f'ref {train["ref_id"]}' in str(err.value)
    assert train['file_name'] in str(err.value)
    # an image that does not decode: named when loaded
    with open(osp.join(img_dir, train['file_name']), 'wb') as f:
        f.write(b'not a jpeg')
    ds = _build(root, split='train')
    idx = [i for i in range(len(ds))
           if ds.get_data_info(i)['ref_id'] == train['ref_id']][0]
    with pytest.raises(RuntimeError) as err:
        ds[idx]
    msg = str(err.value)
    assert 'split "train"' in msg and f'ref {train["ref_id"]}' in msg
    assert train['file_name'] in msg


def test_horizontal_flip_is_refused(synth):
    with pytest.raises(ValueError, match='left/right'):
        _build(synth[0], split='train',
               pipeline=PIPELINE[:2] + [dict(type='RandomFlip', prob=0.5)] +
               PIPELINE[2:])
    _build(synth[0], split='train',  # a never-applied flip is fine
           pipeline=[dict(type='RandomFlip', prob=0.0)] + PIPELINE)


class _RunsCode:
    """Unpickling this calls os.system (what a malicious file would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_safe_refs_pickle_refuses_code(tmp_path):
    marker = tmp_path / 'pwned'
    bad = tmp_path / 'refs(unc).p'
    with open(bad, 'wb') as f:
        pickle.dump([{'ref_id': 1, 'x': _RunsCode(str(marker))}], f,
                    protocol=2)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_refs_pickle(str(bad))
    assert str(bad) in str(err.value) and 'system' in str(err.value)
    assert not marker.exists()
    # the dataset reads its refs through it: refused at start-up
    root = tmp_path / 'data'
    (root / 'synthetic').mkdir(parents=True)
    (root / 'synthetic' / 'refs(unc).p').write_bytes(bad.read_bytes())
    with pytest.raises(UnsafeCheckpointError, match='system'):
        ReferDataset(data_root=str(root), dataset='synthetic')
    assert not marker.exists()
    # plain data (protocol 0 as Python 2 wrote, sets included) loads
    good = tmp_path / 'good.p'
    data = [{'ref_id': 1, 'sentences': [{'sent': 'the cat', 'tokens':
                                         ['the', 'cat']}], 's': {1, 2},
             't': (1.5, None, True)}]
    for proto in (0, 2, 4):
        good.write_bytes(pickle.dumps(data, protocol=proto))
        assert load_refs_pickle(str(good)) == data
    good.write_bytes(b'garbage')
    with pytest.raises(CheckpointError, match='not a readable pickle'):
        load_refs_pickle(str(good))
