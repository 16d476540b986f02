"""tools/dataset_converters/make_synthetic_seg.py: layout, labels, seeds."""
import hashlib
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from _tools import load_tool  # noqa: E402

TOOL = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters',
    'make_synthetic_seg.py')


synth = load_tool('dataset_converters', 'make_synthetic_seg')
KW = dict(num_train=6, num_val=3, size=32, num_classes=4)


def _digest(root):
    h = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = osp.join(folder, name)
            h.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


def test_layout_and_labels(tmp_path):
    meta = synth.make_synthetic_seg(str(tmp_path), seed=0, **KW)
    for split, n in (('training', 6), ('validation', 3)):
        imgs = sorted(os.listdir(tmp_path / 'images' / split))
        anns = sorted(os.listdir(tmp_path / 'annotations' / split))
        assert len(imgs) == len(anns) == n
        assert [i[:-4] for i in imgs] == [a[:-4] for a in anns]
        assert imgs[0].endswith('.jpg') and anns[0].endswith('.png')
        img = cv2.imread(str(tmp_path / 'images' / split / imgs[0]))
        ann = cv2.imread(str(tmp_path / 'annotations' / split / anns[0]),
                         cv2.IMREAD_UNCHANGED)
        assert img.shape == (32, 32, 3) and ann.shape == (32, 32)
        assert ann.dtype == np.uint8 and ann.max() <= 4
    assert meta['classes'] == ['background', 'disc', 'square', 'triangle']
    assert len(meta['palette']) == 4
    counts = meta['splits']['training']['class_pixels']
    assert counts[0] == max(counts)  # background is the majority
    with open(tmp_path / 'meta.json') as f:
        assert json.load(f) == meta


def test_majority_baseline():
    b = synth.majority_baseline([60, 20, 20])
    assert b['majority_class'] == 0
    assert b['aAcc'] == pytest.approx(60.0)
    assert b['mIoU'] == pytest.approx(20.0)


def test_deterministic_and_seeded(tmp_path):
    synth.make_synthetic_seg(str(tmp_path / 'a'), seed=0, **KW)
    synth.make_synthetic_seg(str(tmp_path / 'b'), seed=0, **KW)
    synth.make_synthetic_seg(str(tmp_path / 'c'), seed=1, **KW)
    assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b')
    assert _digest(tmp_path / 'a') != _digest(tmp_path / 'c')
    # more images keep the existing ones
    synth.make_synthetic_seg(str(tmp_path / 'd'), seed=0, num_train=8,
                             num_val=3, size=32, num_classes=4)
    a = tmp_path / 'a' / 'annotations' / 'training' / 'synth_00005.png'
    d = tmp_path / 'd' / 'annotations' / 'training' / 'synth_00005.png'
    assert a.read_bytes() == d.read_bytes()


def test_mmseg_dataset_reads_it(tmp_path):
    """ADE20K-style: reduce_zero_label maps 1..N -> 0..N-1, 0 -> 255."""
    from mmseg.datasets import BaseSegDataset
    meta = synth.make_synthetic_seg(str(tmp_path), seed=0, **KW)
    ds = BaseSegDataset(
        data_root=str(tmp_path),
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
        metainfo=dict(classes=tuple(meta['classes']),
                      palette=meta['palette']),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True)])
    assert len(ds) == 3
    seg = ds[0]['gt_seg_map']
    assert set(np.unique(seg)) <= set(range(4)) | {255}


def test_cli_and_errors(tmp_path, capsys):
    assert synth.main([str(tmp_path), '--num-train', '2', '--num-val', '2',
                       '--size', '32', '--num-classes', '3']) == 0
    assert 'majority-class baseline' in capsys.readouterr().out
    with pytest.raises(ValueError):
        synth.make_synthetic_seg(str(tmp_path), num_classes=1)
    with pytest.raises(ValueError):
        synth.make_synthetic_seg(str(tmp_path), num_classes=99)
    with pytest.raises(ValueError):
        synth.make_synthetic_seg(str(tmp_path), size=8)
