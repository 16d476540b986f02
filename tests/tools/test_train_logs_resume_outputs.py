"""A newcomer's tiny training run, end to end: progress with ETA, a quiet
log (one optimizer summary, no config dump), the LR schedule fitted to a
shortened run, TensorBoard, a checkpoint often enough that Ctrl-C loses
little, --resume, and tools/test.py logging next to the run with
DIR/<image stem>.png pictures."""
import glob
import os.path as osp
import re
import sys

import pytest
from mmengine.hooks import Hook

from vpd.registry import HOOKS, RUNNERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
CONFIG = osp.join(ROOT, 'configs', 'quickstart',
                  'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')


@HOOKS.register_module(force=True)
class _CtrlCAfter(Hook):
    """Raises KeyboardInterrupt after iteration ``at`` (as Ctrl-C would),
    after the checkpoint hook has run."""
    priority = 'LOWEST'

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            raise KeyboardInterrupt


def _opts(data, iters):
    opts = [f'{k}_dataloader.dataset.data_root={data}'
            for k in ('train', 'val', 'test')]
    opts += [f'{k}_dataloader.{o}' for k in ('train', 'val', 'test')
             for o in ('num_workers=0', 'persistent_workers=False')]
    # the run checks logging, checkpoints and resuming, not learning: one
    # image per training step (35 steps), the 3 test images in one batch
    return opts + ['train_dataloader.batch_size=1',
                   'val_dataloader.batch_size=3',
                   'test_dataloader.batch_size=3',
                   f'train_cfg.max_iters={iters}',
                   f'train_cfg.val_interval={iters}']


def _log(work, stamp=None):
    logs = sorted(glob.glob(osp.join(work, '*', '*.log')))
    return open(logs[-1] if stamp is None else stamp).read(), logs


def test_train_interrupt_resume_and_test(tmp_path, monkeypatch, capsys):
    import test as test_tool
    import train as train_tool
    from make_synthetic_depth import make_synthetic_depth
    data = str(tmp_path / 'data')
    make_synthetic_depth(data, num_train=8, num_test=3, height=32,
                         width=48, seed=0)
    monkeypatch.chdir(tmp_path)  # not the repository root
    work = str(tmp_path / 'work')

    # 30 of the config's 150 iterations; "Ctrl-C" after iteration 27
    args = train_tool.parse_args([CONFIG, '--work-dir', work,
                                  '--tensorboard', '--cfg-options',
                                  *_opts(data, 30)])
    cfg = train_tool.build_cfg(args)
    cfg.custom_hooks = [dict(type='_CtrlCAfter', at=27)]
    runner = RUNNERS.build(cfg)
    assert type(runner).__name__ == 'VPDRunner'
    # the warm-up (50 of 150) and the decay follow the run: 10 and 30
    assert [(s.begin, s.end) for s in runner.param_schedulers] == [
        (0, 10), (10, 30)]
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    # the quickstart config checkpoints every 25 iterations
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_25.pth')
    log, _ = _log(work)
    # progress: a line with the ETA every 10 iterations
    for i in (10, 20):
        assert re.search(rf'Iter\(train\) \[{i}/30\] .*eta: ', log), i
    # quiet: one optimizer summary, no per-parameter line, no config dump
    assert log.count('Optimizer AdamW lr 0.001 weight_decay 0.01: ') == 1
    assert 'frozen (not optimised): backbone.vae' in log
    assert 'requires_grad=False' not in log
    assert 'paramwise_options' not in log
    assert 'Config:\n' not in log and "model = dict(" not in log
    dumped = re.search(r'Config: written to (\S+)', log).group(1)
    # the environment and hook tables are in the file, not on the console
    assert 'System environment' in log and 'Hooks will be executed' in log
    console = capsys.readouterr().out
    assert 'Iter(train) [10/30]' in console
    assert 'System environment' not in console
    assert 'Hooks will be executed' not in console
    assert osp.isfile(dumped) and osp.dirname(dumped).startswith(work)
    assert glob.glob(osp.join(work, '*', 'vis_data', 'events.out.tfevents*'))

    # --resume continues from iteration 25
    runner = train_tool.main([CONFIG, '--work-dir', work, '--resume',
                              '--cfg-options', *_opts(data, 30)])
    assert runner.iter == 30
    log, _ = _log(work)
    assert 'resumed' in log.lower() and 'iter_25.pth' in log

    # tools/test.py without --work-dir: its log sits next to the run's
    _, before = _log(work)
    show = str(tmp_path / 'show')
    test_tool.main([CONFIG, osp.join(work, 'iter_30.pth'), '--show-dir',
                    show, '--cfg-options', *_opts(data, 30)])
    _, after = _log(work)
    assert len(after) == len(before) + 1
    images = sorted(glob.glob(osp.join(data, 'official_splits', 'test', '*',
                                       '*.jpg')))
    stems = sorted(osp.splitext(osp.basename(p))[0] for p in images)
    assert sorted(osp.splitext(p)[0] for p in
                  map(osp.basename, glob.glob(osp.join(show, '*')))) == stems
