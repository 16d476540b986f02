"""vpd's CheckpointHook: save order, atomic last_checkpoint, start-up repair,
no non-finite weights (cases rel-02, rel-11, bugrep-01)."""
import os
import os.path as osp

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.registry import HOOKS as MMENGINE_HOOKS

import vpd.engine.checkpoint_io as cio
from vpd.utils.checkpoint import load_checkpoint_file

from _tiny_runner import TinyModel, log_text, make_runner

# (the new APIs are imported inside the tests, so that against the code
# before the fix each test fails on its behaviour, not on an import)


def test_vpd_scope_builds_the_safe_hook():
    from vpd.engine.hooks import CheckpointHook
    hook = MMENGINE_HOOKS.build(dict(type='CheckpointHook', interval=1))
    assert type(hook) is CheckpointHook
    # mmengine's stays reachable by its scoped name
    original = MMENGINE_HOOKS.build(dict(type='mmengine.CheckpointHook'))
    assert type(original) is not CheckpointHook


def test_old_checkpoint_deleted_only_after_new_one_and_pointer(
        tmp_path, monkeypatch):
    """mmengine deletes iter_N-1 before writing iter_N: with
    max_keep_ckpts=1 a kill in between left no checkpoint (rel-02)."""
    events = []
    real_replace, real_remove = os.replace, os.remove

    def replace(src, dst, *a, **kw):
        events.append(('write', osp.basename(dst)))
        return real_replace(src, dst, *a, **kw)

    def remove(path, *a, **kw):
        events.append(('delete', osp.basename(path)))
        return real_remove(path, *a, **kw)

    monkeypatch.setattr(os, 'replace', replace)
    monkeypatch.setattr(os, 'remove', remove)
    make_runner(str(tmp_path), 3, 'order',
                checkpoint=dict(max_keep_ckpts=1)).train()
    assert events == [
        ('write', 'iter_1.pth'), ('write', 'last_checkpoint'),
        ('write', 'iter_2.pth'), ('write', 'last_checkpoint'),
        ('delete', 'iter_1.pth'),
        ('write', 'iter_3.pth'), ('write', 'last_checkpoint'),
        ('delete', 'iter_2.pth'),
    ]
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) \
        == ['iter_3.pth']
    # the id still to delete is saved in the checkpoint: a resume deletes it
    ck = load_checkpoint_file(tmp_path / 'iter_3.pth')
    assert ck['message_hub']['runtime_info']['keep_ckpt_ids'] == [2, 3]


def test_non_finite_weights_are_never_saved(tmp_path):
    """Without the guard hook a NaN step reaches the weights; the save is
    refused and the last good checkpoint survives max_keep_ckpts=1."""
    from vpd.utils.checkpoint import NonFiniteTensorError
    model = TinyModel(loss_hook=lambda i, loss: loss * float('nan')
                      if i == 2 else loss)
    runner = make_runner(str(tmp_path), 6, 'nan_save', model=model,
                         checkpoint=dict(max_keep_ckpts=1))
    with pytest.raises(NonFiniteTensorError) as err:
        runner.train()
    message = str(err.value)
    assert 'iter_3.pth' in message and 'NaN/Inf' in message
    from vpd.utils.cli import user_error_message
    assert user_error_message(err.value).startswith('NonFiniteTensorError')
    assert str(tmp_path / 'iter_2.pth') in message  # the one kept
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) \
        == ['iter_2.pth']
    assert cio.read_last_checkpoint(str(tmp_path)) == \
        str(tmp_path / 'iter_2.pth')
    sd = load_checkpoint_file(tmp_path / 'iter_2.pth')['state_dict']
    assert all(torch.isfinite(v).all() for v in sd.values())


class _RisingScore(BaseMetric):
    """A score that improves at every validation."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        self.calls += 1
        return dict(score=float(self.calls))


def test_previous_best_deleted_only_after_new_best(tmp_path, monkeypatch):
    """mmengine deletes best_*.pth before writing the next best one."""
    events = []
    real_replace, real_remove = os.replace, os.remove
    monkeypatch.setattr(os, 'replace', lambda s, d, *a, **k: (
        events.append(('write', osp.basename(d))), real_replace(s, d))[1])
    monkeypatch.setattr(os, 'remove', lambda p, *a, **k: (
        events.append(('delete', osp.basename(p))), real_remove(p))[1])
    make_runner(str(tmp_path), 2, 'best', val_evaluator=_RisingScore(),
                checkpoint=dict(save_best='score', rule='greater',
                                max_keep_ckpts=1)).train()
    best = [e for e in events if e[1].startswith('best_')]
    assert best == [('write', 'best_score_iter_1.pth'),
                    ('write', 'best_score_iter_2.pth'),
                    ('delete', 'best_score_iter_1.pth')]
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) \
        == ['best_score_iter_2.pth', 'iter_2.pth']


@pytest.fixture
def two_checkpoints(tmp_path):
    """A work dir with complete iter_2.pth and iter_4.pth."""
    make_runner(str(tmp_path), 4, 'two_ckpts',
                checkpoint=dict(interval=2)).train()
    return tmp_path


class _Start(Hook):
    """Records the iteration training (re)starts from."""
    priority = 'LOWEST'

    def __init__(self):
        self.iters = []

    def before_train(self, runner):
        self.iters.append(runner.iter)


@pytest.mark.parametrize('pointer', ['', 'missing', 'dangling', 'torn'])
def test_bad_last_checkpoint_falls_back_to_newest(two_checkpoints, pointer):
    """An empty last_checkpoint made --resume fail on the path '' (rel-11);
    a dangling or missing one, or one naming a torn file, is answered the
    same way: the newest complete checkpoint, with a warning."""
    work = str(two_checkpoints)
    newest, start = osp.join(work, 'iter_4.pth'), 4
    target = osp.join(work, 'last_checkpoint')
    if pointer == 'missing':
        os.remove(target)
    elif pointer == 'dangling':
        open(target, 'w').write(osp.join(work, 'iter_9.pth'))
    elif pointer == 'torn':  # a pre-atomic, half-written newest checkpoint
        data = open(newest, 'rb').read()
        open(newest, 'wb').write(data[:len(data) // 2])
        newest, start = osp.join(work, 'iter_2.pth'), 2
    else:
        open(target, 'w').close()
    hook = _Start()
    runner = make_runner(work, 5, f'fallback_{pointer}', resume=True,
                         checkpoint=dict(interval=2), custom_hooks=[hook])
    runner.train()
    assert hook.iters == [start] and runner.iter == 5
    warned = [line for line in log_text(runner).splitlines()
              if 'WARNING' in line and 'last_checkpoint' in line]
    assert len(warned) == 1 and newest in warned[0], warned
    assert cio.read_last_checkpoint(work) == osp.join(work, 'iter_5.pth')


def test_no_complete_checkpoint_removes_the_pointer(tmp_path):
    open(tmp_path / 'last_checkpoint', 'w').write(str(tmp_path / 'x.pth'))
    assert cio.repair_last_checkpoint(str(tmp_path)) is None
    assert not (tmp_path / 'last_checkpoint').exists()


def test_stale_temp_files_are_removed_at_start(tmp_path):
    """A killed save left '.iter_3.pth.<pid>.<hex>.tmp' forever (rel-02)."""
    dead = tmp_path / '.iter_3.pth.999999999.0123456789ab.tmp'
    dead.write_bytes(b'partial')
    live = tmp_path / f'.iter_3.pth.{os.getppid()}.0123456789ab.tmp'
    live.write_bytes(b'someone is writing this')
    other = tmp_path / 'notes.tmp'
    other.write_bytes(b'not ours')
    assert cio.remove_stale_temp_files(str(tmp_path)) == [str(dead)]
    assert live.exists() and other.exists()
    live.unlink()
    dead.write_bytes(b'partial')
    make_runner(str(tmp_path), 1, 'tmp_cleanup').train()
    assert not dead.exists() and other.exists()


def test_last_checkpoint_is_atomic_and_keeps_non_utf8_paths(tmp_path):
    """mmengine wrote last_checkpoint with open('w'): a non-UTF-8 work dir
    left it empty (rel-11)."""
    work = os.path.join(os.fsencode(tmp_path), b'wd_caf\xe9')
    work = os.fsdecode(work)
    os.makedirs(work)
    ckpt = osp.join(work, 'iter_1.pth')
    cio.write_last_checkpoint(work, ckpt)
    raw = open(osp.join(os.fsencode(work), b'last_checkpoint'), 'rb').read()
    assert raw == os.fsencode(ckpt)
    assert cio.read_last_checkpoint(work) == ckpt
    assert not [n for n in os.listdir(work) if n.endswith('.tmp')]


def test_complete_checkpoint_detection(tmp_path):
    path = str(tmp_path / 'a.pth')
    torch.save({'w': torch.ones(3)}, path)
    assert cio.is_complete_checkpoint(path)
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:-20])
    assert not cio.is_complete_checkpoint(path)
    open(path, 'wb').close()
    assert not cio.is_complete_checkpoint(path)
    assert cio.newest_complete_checkpoint(str(tmp_path)) is None


def test_train_tool_resumes_from_a_non_utf8_work_dir(tmp_path):
    """mmengine reads last_checkpoint as UTF-8 text: --resume failed in a
    work dir named with other bytes (rel-11); tools/train.py reads it as
    bytes and hands the checkpoint to the runner."""
    import sys
    sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))), 'tools'))
    import train as train_tool
    from vpd.engine.checkpoint_io import resume_checkpoint
    work = os.fsdecode(os.path.join(os.fsencode(tmp_path), b'wd_caf\xe9'))
    os.makedirs(work)
    make_runner(work, 2, 'non_utf8').train()
    assert resume_checkpoint(work) == osp.join(work, 'iter_2.pth')
    args = train_tool.parse_args([osp.join(osp.dirname(osp.dirname(
        osp.dirname(osp.abspath(__file__)))), 'configs', 'quickstart',
        'vpd_tiny_1xb8-150_synthetic-depth-96x128.py'), '--work-dir', work,
        '--resume'])
    cfg = train_tool.build_cfg(args)
    assert cfg.resume and cfg.load_from == osp.join(work, 'iter_2.pth')
