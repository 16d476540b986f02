"""Kill a training run at seeded moments of its checkpoint saves (>= 20
kills); ``--resume`` must always work and lose at most one interval.

Each run is a child forked from this (already imported) test process: it
builds a tiny Runner in the vpd scope (vpd's ``CheckpointHook``, a checkpoint
every iteration, ``resume=True`` as ``tools/train.py --resume``) and trains.
Every file-system step of a save in the work dir (creating a temp file,
fsync, rename, directory fsync, deleting an old checkpoint) first reports to
the parent through a pipe and waits for its answer. The parent answers, or
SIGKILLs the child at the k-th step (k drawn from a seeded RNG), sometimes
after truncating the temp file being synced (a torn write). No sleeps: the
child is stopped exactly at the chosen step.
"""
import os
import os.path as osp
import random
import re
import select
import signal
import traceback
import zipfile

import pytest

from _tiny_runner import make_runner

pytestmark = pytest.mark.skipif(
    not hasattr(os, 'fork') or not osp.isdir('/proc/self/fd'),
    reason='needs os.fork and /proc')

MAX_ITERS = 40
WATCHDOG_S = 120  # a child that stops talking for this long has hung


def _complete(path):
    """A torch zip checkpoint whose central directory (written last) reads."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith('data.pkl') for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _steps(folder):
    """``{step: path}`` of the complete ``iter_*.pth`` files of ``folder``."""
    out = {}
    for name in os.listdir(folder):
        m = re.fullmatch(r'iter_(\d+)\.pth', name)
        if m and _complete(osp.join(folder, name)):
            out[int(m.group(1))] = osp.join(folder, name)
    return out


def _child(work_dir, keep, trial, evt_w, ack_r):
    """Run in the forked child: instrumented, resumed training."""
    log = os.open(osp.join(osp.dirname(work_dir), f'child{trial}.log'),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    status = 1
    try:
        real = dict(open=os.open, fsync=os.fsync, replace=os.replace,
                    remove=os.remove)

        def report(msg):
            os.write(evt_w, (msg + '\n').encode())
            if os.read(ack_r, 1) != b'k':
                os._exit(3)

        def inside(path):
            return osp.abspath(os.fsdecode(path)).startswith(work_dir)

        def op_open(path, flags, mode=0o777, *a, **kw):
            if inside(path) and os.fsdecode(path).endswith('.tmp'):
                report(f'create {path}')
            return real['open'](path, flags, mode, *a, **kw)

        def op_fsync(fd):
            try:
                path = os.readlink(f'/proc/self/fd/{fd}')
            except OSError:
                path = ''
            if inside(path):
                report(f'fsync {path}')
                # a killed process loses nothing the kernel already has:
                # fsync only matters for power loss, and costs ~0.1 s here
                return None
            return real['fsync'](fd)

        def op_replace(src, dst, *a, **kw):
            if inside(dst):
                report(f'replace {src} {dst}')
            return real['replace'](src, dst, *a, **kw)

        def op_remove(path, *a, **kw):
            if inside(path):
                report(f'remove {path}')
            return real['remove'](path, *a, **kw)

        os.open, os.fsync = op_open, op_fsync
        os.replace, os.remove = op_replace, op_remove

        from mmengine.hooks import Hook

        class Report(Hook):
            priority = 'LOWEST'  # after CheckpointHook.before_train

            def before_train(self, runner):
                report(f'resumed {runner.iter}')

        runner = make_runner(
            work_dir, MAX_ITERS, f'kill_{keep}_{trial}',
            checkpoint=dict(max_keep_ckpts=keep), custom_hooks=[Report()],
            resume=True)
        runner.train()
        report('done')
        status = 0
    except BaseException:  # noqa: BLE001 - reported to the parent
        with open(osp.join(osp.dirname(work_dir), f'child{trial}.err'),
                  'w') as f:
            f.write(traceback.format_exc())
    finally:
        os._exit(status)


class _Child:
    """A forked training run and the parent's end of its pipes."""

    def __init__(self, work_dir, keep, trial):
        evt_r, evt_w = os.pipe()
        ack_r, ack_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(evt_r)
            os.close(ack_w)
            _child(work_dir, keep, trial, evt_w, ack_r)
        os.close(evt_w)
        os.close(ack_r)
        self.evt, self.ack, self.buf = evt_r, ack_w, b''
        self.err = osp.join(osp.dirname(work_dir), f'child{trial}.err')

    def next_event(self):
        while b'\n' not in self.buf:
            ready, _, _ = select.select([self.evt], [], [], WATCHDOG_S)
            if not ready:
                self.kill()
                pytest.fail('a training child hung')
            chunk = os.read(self.evt, 4096)
            if not chunk:
                self.wait()
                detail = open(self.err).read() if osp.exists(self.err) \
                    else 'no traceback'
                pytest.fail(f'training child died unexpectedly:\n{detail}')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return line.decode()

    def answer(self):
        os.write(self.ack, b'k')

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)
        self.wait()

    def wait(self):
        os.waitpid(self.pid, 0)
        os.close(self.evt)
        os.close(self.ack)


@pytest.fixture(scope='module')
def warm(tmp_path_factory):
    """Build and train one Runner here first: the children then inherit
    mmengine's lazily imported modules (matplotlib for the visualizer) and
    each starts in well under a second."""
    make_runner(str(tmp_path_factory.mktemp('warm')), 1, 'kill_warm').train()


@pytest.mark.parametrize('keep,kills,seed', [(1, 12, 0), (2, 10, 1)])
def test_kill_during_saves_then_resume(tmp_path, warm, keep, kills, seed):
    rng = random.Random(seed)
    work_dir = str(tmp_path / 'work')
    os.makedirs(work_dir)
    best_before_kill = 0  # newest complete checkpoint when last killed
    resumed = []
    for trial in range(kills + 1):
        child = _Child(work_dir, keep, trial)
        event = child.next_event()
        while not event.startswith('resumed '):
            # start-up repairs: stale temp files removed, last_checkpoint
            # rewritten, a checkpoint beyond max_keep_ckpts deleted
            assert event.split()[0] in ('remove', 'create', 'fsync',
                                        'replace'), event
            child.answer()
            event = child.next_event()
        start = int(event.split()[1])
        resumed.append(start)
        # never more than one interval lost, never a leftover temp file,
        # never more checkpoints than kept + the one not yet deleted
        assert start >= best_before_kill - 1, (trial, start, best_before_kill)
        if best_before_kill:
            assert start >= 1
        assert not [n for n in os.listdir(work_dir) if n.endswith('.tmp')]
        assert len(_steps(work_dir)) <= keep + 1
        child.answer()
        if trial == kills:  # the last run is not interrupted
            while child.next_event() != 'done':
                child.answer()
            child.answer()
            child.wait()
            break
        kill_at = rng.randint(1, 22)
        for _ in range(kill_at - 1):
            event = child.next_event()
            assert event != 'done'
            child.answer()
        event = child.next_event()
        if event.startswith('fsync ') and event.endswith('.tmp') and \
                rng.random() < 0.5:
            path = event.split(' ', 1)[1]
            os.truncate(path, osp.getsize(path) // 2)  # a torn write
        child.kill()
        steps = _steps(work_dir)
        if best_before_kill or steps:  # once saved, never without one
            assert steps, f'no complete checkpoint after kill {trial}: {event}'
            best_before_kill = max(steps)
        pointer = osp.join(work_dir, 'last_checkpoint')
        if osp.exists(pointer):  # written atomically: names a whole file
            assert open(pointer).read() in steps.values(), (trial, event)
    # the uninterrupted last run finished and cleaned up
    steps = _steps(work_dir)
    assert max(steps) == MAX_ITERS and len(steps) == keep
    assert open(osp.join(work_dir, 'last_checkpoint')).read() == \
        steps[MAX_ITERS]
    assert not [n for n in os.listdir(work_dir) if n.endswith('.tmp')]
    assert len(resumed) == kills + 1 and resumed[-1] > 0
