"""Safe checkpoint loading, atomic saving and the mmengine integration."""
import argparse
import os
import os.path as osp
import pickle
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn

import vpd  # noqa: F401  (mmseg on mmcv-lite)
import vpd.engine  # noqa: F401  (installs the mmengine integration)
from vpd.utils.checkpoint import (SAFE_GLOBALS, CheckpointError,
                                  UnsafeCheckpointError, atomic_write_bytes,
                                  load_checkpoint_file, save_checkpoint_atomic)


# ---------------------------------------------------------------------------
# Malicious files are refused without running anything
# ---------------------------------------------------------------------------
class _ShellPayload:
    """Unpickling this runs a shell command (the classic pickle exploit)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def _write_marker(path):
    with open(path, 'w') as f:
        f.write('pwned')


class _FunctionPayload:
    """Unpickling this calls a module-level function of the attacker."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_write_marker, (self.marker, ))


class _ExecPayload:
    """Unpickling this runs arbitrary Python through builtins.exec."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f'open({self.marker!r}, "w").close()', ))


class _GetattrPayload:
    """Abuses builtins.getattr (allowed only for HistoryBuffer methods)."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return (getattr, (self.owner, self.name))


@pytest.mark.parametrize('payload_cls,refused', [
    (_ShellPayload, 'system'),
    (_FunctionPayload, '_write_marker'),
    (_ExecPayload, 'exec'),
])
@pytest.mark.parametrize('legacy', [False, True])
def test_code_executing_pickle_is_refused(tmp_path, payload_cls, refused,
                                          legacy):
    marker = tmp_path / 'MARKER'
    path = tmp_path / 'evil.pth'
    obj = {'state_dict': {'w': torch.zeros(2)}, 'x': payload_cls(marker)}
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert str(path) in message
    assert refused in message and 'for safety' in message
    assert refused in info.value.refused
    assert not marker.exists()


def test_plain_pickle_payload_is_refused(tmp_path):
    marker = tmp_path / 'MARKER'
    path = tmp_path / 'evil.ckpt'
    path.write_bytes(pickle.dumps(_ShellPayload(marker), protocol=2))
    with pytest.raises(UnsafeCheckpointError, match='for safety'):
        load_checkpoint_file(path)
    assert not marker.exists()


@pytest.mark.parametrize('owner,name', [
    ('history_buffer', '__init__'),
    ('history_buffer', '_set_default_statistics'),
    ('ndarray', 'tofile'),
])
def test_general_getattr_is_refused(tmp_path, owner, name):
    from mmengine.logging import HistoryBuffer
    owner = HistoryBuffer if owner == 'history_buffer' else np.ndarray
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _GetattrPayload(owner, name)}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)
    assert 'getattr' in info.value.refused
    assert repr(name) in str(info.value)


# ---------------------------------------------------------------------------
# What official releases and mmengine contain loads
# ---------------------------------------------------------------------------
def test_official_refer_style_checkpoint_loads(tmp_path):
    path = tmp_path / 'refer.pth'
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.PolynomialLR(optimizer, 10)
    args = argparse.Namespace(lr=5e-5, epochs=40, dataset='refcoco',
                              splits=['val', 'testA'], resume=None)
    torch.save({'model': model.state_dict(), 'optimizer':
                optimizer.state_dict(), 'epoch': 3, 'args': args,
                'lr_scheduler': scheduler.state_dict(),
                'meta': {'CLASSES': ('a', 'b'), 'PALETTE': [[1, 2, 3]],
                         'mmcv_version': '1.6.0', 'seed': 42}}, path)
    ck = load_checkpoint_file(path)
    assert isinstance(ck['args'], argparse.Namespace)
    assert ck['args'].splits == ['val', 'testA'] and ck['epoch'] == 3
    assert ck['meta']['CLASSES'] == ('a', 'b')
    torch.testing.assert_close(ck['model']['weight'], model.weight.detach())
    assert ck['optimizer']['param_groups'][0]['lr'] == 1e-4


def test_numpy_arrays_and_scalars_load(tmp_path):
    path = tmp_path / 'np.pth'
    obj = {'a': np.arange(6, dtype=np.float32).reshape(2, 3),
           'b': np.int64(7), 'c': np.float64(0.5), 'd': np.array([True])}
    torch.save(obj, path)
    ck = load_checkpoint_file(path)
    np.testing.assert_array_equal(ck['a'], obj['a'])
    assert ck['b'] == 7 and ck['c'] == 0.5 and ck['d'].dtype == bool


def test_numpy1_names_load(tmp_path):
    """Files written with numpy 1.x name numpy.core.multiarray.*."""
    path = tmp_path / 'np1.pth'
    torch.save({'a': np.arange(3.0), 's': np.float64(2.0)}, path,
               _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    if b'numpy._core.multiarray' in data:  # running on numpy 2
        path.write_bytes(
            data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))
    assert b'numpy.core.multiarray' in path.read_bytes()
    ck = load_checkpoint_file(path)
    np.testing.assert_array_equal(ck['a'], np.arange(3.0))
    assert ck['s'] == 2.0


def test_safetensors_loads_as_flat_dict(tmp_path):
    path = tmp_path / 'w.safetensors'
    tensors = {'a.weight': torch.randn(2, 3), 'b': torch.arange(4)}
    save_checkpoint_atomic(tensors, path, metadata={'format': 'pt'})
    out = load_checkpoint_file(path)
    assert set(out) == set(tensors)
    for key in tensors:
        torch.testing.assert_close(out[key], tensors[key])


def test_allow_list_is_explicit():
    names = [name for _, name in SAFE_GLOBALS]
    assert 'argparse.Namespace' in names
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert not any(n.split('.')[0] in ('os', 'sys', 'subprocess', 'posix')
                   for n in names)


# ---------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------
def test_missing_file(tmp_path):
    path = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(path)


@pytest.mark.parametrize('name,content', [
    ('notes.pth', b'this is not a checkpoint\n'),
    ('empty.pth', b''),
    ('bad.safetensors', b'\x10\x00\x00\x00\x00\x00\x00\x00{not json'),
])
def test_not_a_checkpoint(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=name):
        load_checkpoint_file(path)


def test_zip_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / 'archive.pth'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('readme.txt', 'hello')
    with pytest.raises(CheckpointError, match='archive.pth'):
        load_checkpoint_file(path)


# ---------------------------------------------------------------------------
# Atomic saving
# ---------------------------------------------------------------------------
class _Bomb:
    """Pickling this fails half-way through a checkpoint."""

    def __reduce__(self):
        raise RuntimeError('simulated crash while pickling')


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != 'ckpt.pth')


def test_atomic_save_survives_pickling_crash(tmp_path):
    path = tmp_path / 'ckpt.pth'
    save_checkpoint_atomic({'w': torch.ones(3), 'step': 1}, path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match='simulated crash'):
        save_checkpoint_atomic(
            {'w': torch.zeros(1000), 'later': _Bomb()}, path)
    assert path.read_bytes() == before
    assert load_checkpoint_file(path)['step'] == 1
    assert _leftovers(tmp_path) == []


def test_atomic_save_survives_partial_write(tmp_path, monkeypatch):
    path = tmp_path / 'ckpt.pth'
    save_checkpoint_atomic({'step': 1}, path)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b'PK\x03\x04 half a checkpoint')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError, match='No space left'):
        save_checkpoint_atomic({'step': 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_atomic_save_replaces_and_keeps_mode(tmp_path):
    path = tmp_path / 'ckpt.pth'
    save_checkpoint_atomic({'step': 1}, path)
    os.chmod(path, 0o640)
    save_checkpoint_atomic({'step': 2}, path)
    assert load_checkpoint_file(path)['step'] == 2
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []


def test_atomic_save_creates_folders_and_follows_symlink(tmp_path):
    real = tmp_path / 'a' / 'b' / 'real.pth'
    save_checkpoint_atomic({'v': 1}, real)
    link = tmp_path / 'latest.pth'
    link.symlink_to(real)
    save_checkpoint_atomic({'v': 2}, link)
    assert link.is_symlink()
    assert load_checkpoint_file(real)['v'] == 2


def test_atomic_safetensors_rejects_non_tensors(tmp_path):
    path = tmp_path / 'w.safetensors'
    with pytest.raises(TypeError, match="'step'"):
        save_checkpoint_atomic({'w': torch.ones(1), 'step': 3}, path)
    assert list(tmp_path.iterdir()) == []


def test_mmengine_put_is_atomic(tmp_path, monkeypatch):
    from mmengine.fileio import get_file_backend
    from mmengine.runner.checkpoint import save_checkpoint
    path = tmp_path / 'ckpt.pth'
    backend = get_file_backend(str(path))
    assert type(backend).__name__ == 'AtomicLocalBackend'
    save_checkpoint({'step': 1}, str(path))
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', full_disk)
    with pytest.raises(OSError, match='No space left'):
        save_checkpoint({'step': 2}, str(path))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_atomic_write_bytes(tmp_path):
    path = tmp_path / 'x.bin'
    atomic_write_bytes(b'abc', path)
    assert path.read_bytes() == b'abc'


# ---------------------------------------------------------------------------
# mmengine Runner: save every iteration, resume on torch >= 2.6
# ---------------------------------------------------------------------------
def _make_runner(work_dir, max_iters, resume, name):
    from mmengine.hooks import Hook
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class TinyModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            if isinstance(inputs, (list, tuple)):
                inputs = torch.stack(inputs)
            out = self.linear(inputs)
            if mode == 'loss':
                return {'loss': out.pow(2).mean()}
            return out

    class TinyDataset(torch.utils.data.Dataset):
        metainfo = dict(classes=('a', 'b'))

        def __len__(self):
            return 8

        def __getitem__(self, i):
            return dict(inputs=torch.full((2, ), float(i)))

    class RecordStart(Hook):

        def __init__(self):
            self.first_iter = None

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if self.first_iter is None:
                self.first_iter = runner.iter

    record = RecordStart()
    runner = Runner(
        model=TinyModel(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=TinyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9)),
        param_scheduler=dict(type='LinearLR', start_factor=0.5,
                             by_epoch=False, begin=0, end=4),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[record],
        resume=resume,
        default_scope='mmengine')
    return runner, record


def test_runner_saves_and_resumes(tmp_path, monkeypatch):
    from mmengine.runner.checkpoint import CheckpointLoader

    import vpd.engine.checkpoint_io as cio
    assert CheckpointLoader._get_checkpoint_loader(
        str(tmp_path / 'x.pth')) is cio.load_from_local

    saved = []
    real_write = cio.atomic_write_bytes

    def write_spy(data, path):
        saved.append(osp.basename(path))
        real_write(data, path)

    monkeypatch.setattr(cio, 'atomic_write_bytes', write_spy)
    runner, record = _make_runner(tmp_path, 3, False, 'ckpt_io_first')
    runner.train()
    assert record.first_iter == 0
    # CheckpointHook -> Runner.save_checkpoint -> save_checkpoint -> put
    assert saved == ['iter_1.pth', 'iter_2.pth', 'iter_3.pth']
    last = tmp_path / 'iter_3.pth'
    assert last.is_file()
    assert (tmp_path / 'last_checkpoint').read_text().strip() == str(last)
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]

    # The trap this module exists for: torch's default refuses the file.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(last)
    ck = load_checkpoint_file(last)
    assert ck['meta']['iter'] == 3
    weight_after_3 = ck['state_dict']['linear.weight']

    opened = []
    real_loader = cio.load_checkpoint_file

    def spy(path, map_location='cpu'):
        opened.append(osp.abspath(path))
        return real_loader(path, map_location)

    monkeypatch.setattr(cio, 'load_checkpoint_file', spy)
    runner2, record2 = _make_runner(tmp_path, 5, True, 'ckpt_io_resumed')
    runner2.train()
    assert opened == [str(last)]
    assert record2.first_iter == 3
    assert runner2.iter == 5
    assert (tmp_path / 'iter_5.pth').is_file()
    ck5 = load_checkpoint_file(tmp_path / 'iter_5.pth')
    assert ck5['meta']['iter'] == 5
    assert not torch.equal(ck5['state_dict']['linear.weight'], weight_after_3)
    # The optimizer and scheduler states came back too.
    assert ck5['param_schedulers'][0]['_global_step'] == 5
    assert 'momentum_buffer' in next(iter(ck5['optimizer']['state'].values()))
