"""tools/train.py, tools/test.py and tools/dist_train.sh end to end (tiny)."""
import glob
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))

CONFIG = osp.join(ROOT, 'configs', 'quickstart',
                  'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from make_synthetic_depth import make_synthetic_depth
    root = str(tmp_path_factory.mktemp('synth'))
    make_synthetic_depth(root, num_train=8, num_test=3, height=32, width=48,
                         seed=0)
    return root


def opts(data_root, iters=2, workers=0):
    return [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2', f'train_dataloader.num_workers={workers}',
        'train_dataloader.persistent_workers=False',
        f'val_dataloader.num_workers={workers}',
        'val_dataloader.persistent_workers=False', 'val_dataloader.batch_size=2',
        f'test_dataloader.num_workers={workers}',
        'test_dataloader.persistent_workers=False',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=5',
        'default_hooks.logger.interval=1',
        'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
        f'param_scheduler.1.end={iters}',
    ]


def dist_opts(data_root):
    """One iteration, no scheduler, no validation: the distributed test
    checks the launch, the log, the written config and the checkpoint (each
    rank pays ~10 s of imports; the work after them is kept small)."""
    return [o for o in opts(data_root, iters=1)
            if not o.startswith('param_scheduler.')] + [
        'param_scheduler=[]', 'val_cfg=None', 'val_dataloader=None',
        'val_evaluator=None']


def test_train_resume_and_test(tmp_path, data_root):
    import test as test_tool
    import train as train_tool
    work = str(tmp_path / 'work')
    train_tool.main([CONFIG, '--work-dir', work, '--cfg-options',
                     *opts(data_root, iters=2)])
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert not glob.glob(osp.join(work, '*.tmp'))
    # interrupted after iteration 2 of 3: --resume continues from it
    runner = train_tool.main([CONFIG, '--work-dir', work, '--resume',
                              '--cfg-options', *opts(data_root, iters=3)])
    assert runner.iter == 3
    assert osp.isfile(osp.join(work, 'iter_3.pth'))

    show, out = str(tmp_path / 'show'), str(tmp_path / 'out')
    metrics = test_tool.main([
        CONFIG, osp.join(work, 'iter_3.pth'), '--work-dir', work,
        '--show-dir', show, '--out', out, '--tta', '--cfg-options',
        *opts(data_root)
    ])
    for k in ('d1', 'd2', 'd3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log',
              'log10', 'silog'):
        assert np.isfinite(metrics[k]), k
    imgs = glob.glob(osp.join(show, '*.png'))
    pngs = glob.glob(osp.join(out, '**', '*.png'), recursive=True)
    assert len(imgs) == 3 and len(pngs) == 3
    import cv2
    vis = cv2.imread(imgs[0])
    assert vis.shape == (32, 48 * 3, 3)  # input | prediction | ground truth
    depth = cv2.imread(pngs[0], cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.shape == (32, 48)
    assert 0 < depth.max() <= 10000  # millimetres


def test_amp_flag_and_bad_config(tmp_path, data_root):
    import train as train_tool
    args = train_tool.parse_args([CONFIG, '--amp'])
    cfg = train_tool.build_cfg(args)
    # mmengine's AmpOptimWrapper needs CUDA; on a CPU --amp is bf16
    # autocast without loss scaling
    import torch
    if torch.cuda.is_available():
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:
        assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
        assert cfg.optim_wrapper.dtype == 'bfloat16'
    with pytest.raises(FileNotFoundError, match='nope.py'):
        train_tool.build_cfg(train_tool.parse_args(['nope.py']))


def test_dist_train_two_processes_gloo(tmp_path, data_root):
    work = str(tmp_path / 'dist')
    with socket.socket() as sock:  # a free port: CI may run other jobs
        sock.bind(('127.0.0.1', 0))
        port = str(sock.getsockname()[1])
    env = dict(os.environ, PORT=port, OMP_NUM_THREADS='1',
               CUDA_VISIBLE_DEVICES='')
    cmd = ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
           '--work-dir', work, '--cfg-options', *dist_opts(data_root)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.isfile(osp.join(work, 'iter_1.pth'))
    log = ''.join(open(f).read() for f in glob.glob(
        osp.join(work, '*', '*.log')))
    assert 'Distributed training: True' in log
    # the resolved config is written beside the log (not printed)
    dumped = ''.join(open(f).read() for f in glob.glob(
        osp.join(work, '*', '*.py')))
    assert "type='MMDistributedDataParallel'" in dumped
    assert 'device_ids=None' in dumped
    # tools/dist_test.sh: 2 processes evaluate the checkpoint (gloo)
    test_work = str(tmp_path / 'dist_test')
    cmd = ['bash', osp.join(ROOT, 'tools', 'dist_test.sh'), CONFIG,
           osp.join(work, 'iter_1.pth'), '2', '--work-dir', test_work,
           '--cfg-options', *dist_opts(data_root)]
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = ''.join(open(f).read() for f in glob.glob(
        osp.join(test_work, '*', '*.log')))
    assert 'Distributed training: True' in log
    assert 'rmse' in log
