"""Meta Prompts depth learning check on the synthetic NYU-layout set.

The quickstart config (tiny preset with the tiny SD stand-in weights of
:mod:`vpd.models.backbones.tiny_sd_stand_in`; UNet at the reference's lr
multiplier x0.01) is trained with 1 and with 3 refinement loops, validated
every ``VAL_EVERY`` iterations, until its held-out RMSE is below ``FACTOR``
(0.70, issue 15's target) times the RMSE of predicting the mean training
depth (mmengine's ``EarlyStoppingHook`` with a ``stopping_threshold``),
within an iteration budget: the test fails if the budget runs out first.

Measured (one thread, lr 3e-3): 1 loop 0.69x after 80 iterations (0.67x,
0.69x, 0.67x at 120, 160, 200 in a longer run), 3 loops 0.68x after 120
(0.72x, 0.69x at 160, 200). At lr 2e-3 the bar was met after 200 and 160
iterations. With the UNet at the full learning rate 3 loops stayed at
0.82-0.96x. The
quickstart's figures are in ``configs/meta_prompts/README.md``.
"""
import os.path as osp
import time

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from vpd.models.backbones.tiny_sd_stand_in import write_tiny_sd_checkpoint

from _tools import load_tool  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Iteration budget (batch 4, 64 px), validated every VAL_EVERY iterations;
# the run stops as soon as the RMSE is below the bar.
DEPTH_ITERS = 280
VAL_EVERY = 40
# RMSE / mean-depth-baseline RMSE to beat (issue 15's target).
FACTOR = 0.7
DEPTH_CFG = osp.join(
    ROOT, 'configs', 'quickstart',
    'meta-prompts_tiny_1xb4-300_synthetic-depth-96x128.py')


@pytest.fixture(scope='module')
def synthetic_nyu(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_nyu'))
    synth = load_tool('dataset_converters', 'make_synthetic_depth')
    synth.make_synthetic_depth(
        root, num_train=96, num_test=16, height=64, width=64, seed=0,
        views_per_scene=6)
    ckpt = osp.join(root, 'tiny_sd.ckpt')
    write_tiny_sd_checkpoint(ckpt)
    return root, ckpt


def _depths(root, split_file, prefix):
    out = []
    with open(osp.join(root, split_file)) as f:
        for line in f:
            path = osp.join(root, prefix, line.split()[1].lstrip('/'))
            out.append(cv2.imread(path, cv2.IMREAD_UNCHANGED) / 1000.0)
    return out


def mean_depth_baseline_rmse(root):
    """RMSE (mean over test images) of predicting the mean training depth."""
    train = _depths(root, 'train_list.txt', 'sync')
    mean = float(np.mean([d[d > 1e-3].mean() for d in train]))
    rmse = []
    for d in _depths(root, 'test_list.txt', 'official_splits/test'):
        valid = d[(d > 1e-3) & (d < 10)]
        rmse.append(np.sqrt(np.mean((valid - mean)**2)))
    return float(np.mean(rmse))


def train_and_eval(cfg_path, options, work_dir):
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    metrics = runner.val_loop.run()
    return metrics, runner.iter, time.time() - start


def depth_options(root, ckpt, num_loops, iters, target=None):
    loader = dict(num_workers=0, persistent_workers=False,
                  dataset=dict(data_root=root))
    return {
        'model.backbone.pretrained': ckpt,
        'model.backbone.num_loops': num_loops,
        'model.conditioner.num_loops': num_loops,
        'train_dataloader': loader,
        'val_dataloader': dict(loader, batch_size=8),
        'test_dataloader': dict(loader, batch_size=8),
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': VAL_EVERY if target else iters + 1,
        'param_scheduler': [],
        'optim_wrapper.optimizer.lr': 3e-3,
        'default_hooks.checkpoint': None,
        'default_hooks.logger.interval': 10,
        'custom_hooks': [
            dict(type='EarlyStoppingHook', monitor='rmse', rule='less',
                 stopping_threshold=target, patience=iters)
        ] if target else [],
    }


@pytest.mark.parametrize('num_loops', [1, 3])
def test_meta_prompts_depth_learns(synthetic_nyu, tmp_path, num_loops):
    root, ckpt = synthetic_nyu
    baseline = mean_depth_baseline_rmse(root)
    metrics, iters, seconds = train_and_eval(
        DEPTH_CFG,
        depth_options(root, ckpt, num_loops, DEPTH_ITERS, FACTOR * baseline),
        tmp_path)
    print(f'MP depth {num_loops} loop(s): rmse {metrics["rmse"]:.3f} vs '
          f'mean-depth baseline {baseline:.3f} '
          f'({metrics["rmse"] / baseline:.2f}x after {iters} iterations, '
          f'{seconds:.0f} s)')
    assert metrics['rmse'] < FACTOR * baseline, (
        f'{num_loops} loop(s): rmse {metrics["rmse"]:.3f} after {iters} '
        f'iterations, needed < {FACTOR} x {baseline:.3f}')
