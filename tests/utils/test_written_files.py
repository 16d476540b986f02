"""Files the tools write: ordinary permissions (0644 under umask 022) on
every path, and a full disk names the file it could not write."""
import errno
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _write_bytes(path):
    from vpd.utils.checkpoint import atomic_write_bytes
    atomic_write_bytes(b'data' * 64, path)


def _write_pth(path):
    from vpd.utils.checkpoint import save_checkpoint_atomic
    save_checkpoint_atomic({'w': torch.ones(2)}, path)


def _write_safetensors(path):
    from vpd.utils.checkpoint import save_checkpoint_atomic
    save_checkpoint_atomic({'w': torch.ones(2)}, path[:-4] + '.safetensors')
    return path[:-4] + '.safetensors'


def _write_image(path):
    """--show-dir images, tools/inference.py colourised depth / overlays."""
    from vpd.visualization import write_image_atomic
    write_image_atomic(path[:-4] + '.png', np.zeros((4, 4, 3), np.uint8))
    return path[:-4] + '.png'


def _write_depth_png(path):
    """tools/test.py --out: DepthMetric's 16-bit PNGs."""
    from vpd.evaluation.metrics import DepthMetric
    folder = osp.dirname(path)
    metric = DepthMetric(output_dir=folder, format_only=True)
    metric.process({}, [dict(pred_depth_map=dict(data=torch.ones(1, 4, 4)),
                             img_id='pred', img_path='x/pred.jpg')])
    return osp.join(folder, 'pred.png')


def _write_inference_png(path):
    """tools/inference.py --save-raw."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import inference
    inference._write_png_atomic(path[:-4] + '.png',
                                np.zeros((4, 4), np.uint16))
    return path[:-4] + '.png'


def _write_embeddings(path):
    """tools/misc/make_class_embeddings.py --out."""
    sys.path.insert(0, osp.join(ROOT, 'tools', 'misc'))
    import make_class_embeddings
    make_class_embeddings.save_tensor_atomic(torch.ones(2, 4), path)


def _write_last_checkpoint(path):
    from vpd.engine.checkpoint_io import write_last_checkpoint
    write_last_checkpoint(osp.dirname(path), '/w/iter_1.pth')
    return osp.join(osp.dirname(path), 'last_checkpoint')


WRITERS = [_write_bytes, _write_pth, _write_safetensors, _write_image,
           _write_depth_png, _write_inference_png, _write_embeddings,
           _write_last_checkpoint]


@pytest.mark.parametrize('write', WRITERS, ids=lambda f: f.__name__[1:])
def test_written_files_get_0644(write, tmp_path, umask_022):
    path = str(tmp_path / 'out' / 'file.pth')
    os.makedirs(osp.dirname(path))
    written = write(path) or path
    assert oct(os.stat(written).st_mode & 0o777) == oct(0o644)
    assert not [n for n in os.listdir(osp.dirname(written))
                if n.endswith('.tmp')]


class _FullDiskFile:
    """A file object whose writes fail with ENOSPC after 10 bytes."""

    def __init__(self, f):
        self._f, self._left = f, 10

    def write(self, data):
        if len(data) > self._left:
            raise OSError(errno.ENOSPC, 'No space left on device')
        self._left -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.mark.parametrize('write', [_write_bytes, _write_pth, _write_image],
                         ids=lambda f: f.__name__[1:])
def test_full_disk_names_the_destination(write, tmp_path, monkeypatch):
    path = str(tmp_path / 'file.pth')
    target = path if write is not _write_image else path[:-4] + '.png'
    with open(target, 'wb') as f:
        f.write(b'previous good content')
    real = os.fdopen
    monkeypatch.setattr(os, 'fdopen',
                        lambda *a, **k: _FullDiskFile(real(*a, **k)))
    with pytest.raises(OSError) as err:
        write(path)
    assert err.value.errno in (errno.ENOSPC, errno.EIO)
    assert f'Could not write "{target}"' in str(err.value)
    if err.value.errno == errno.ENOSPC:
        assert 'No space left on device' in str(err.value)
    assert open(target, 'rb').read() == b'previous good content'
    assert os.listdir(tmp_path) == [osp.basename(target)]
