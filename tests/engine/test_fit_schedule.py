"""A shortened run keeps its LR schedule inside it (or says why not)."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from vpd.engine import fit_schedule_to_run_length
from vpd.registry import PARAM_SCHEDULERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICK = osp.join(ROOT, 'configs', 'quickstart',
                 'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')


def _override(path, options):
    cfg = Config.fromfile(path)
    old = copy.deepcopy(cfg.train_cfg)
    cfg.merge_from_dict(options)
    return cfg, fit_schedule_to_run_length(cfg, old, list(options))


def _lrs(cfg, steps):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    wrapper = OptimWrapper(opt)
    scheds = [PARAM_SCHEDULERS.build(dict(c, optimizer=wrapper))
              for c in cfg.param_scheduler]
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]['lr'])
        wrapper.step()
        for s in scheds:
            s.step()
    return out


def test_warmup_longer_than_the_run_is_rescaled():
    # the quickstart's warm-up ends at 50: mmengine refuses max_iters=10
    # with the decay's begin left at 50 ("end should be larger than begin")
    cfg, lines = _override(QUICK, {'train_cfg.max_iters': 60})
    warmup, poly = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, 20)
    assert (poly.begin, poly.end) == (20, 60)
    assert len(lines) == 2
    assert 'param_scheduler[0] LinearLR begin/end 0/50 -> 0/20' in lines[0]
    assert 'param_scheduler[1] PolyLR begin/end 50/150 -> 20/60' in lines[1]
    lrs = _lrs(cfg, 60)
    # same shape: the peak at a third of the run (mmengine's LinearLR
    # reaches its end value at end - 1), then the decay to its end
    assert max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 19
    assert lrs[-1] < 0.1
    cfg, _ = _override(QUICK, {'train_cfg.max_iters': 10})
    assert _lrs(cfg, 10)  # builds


def test_steps_past_the_end_keep_their_distance():
    seg = osp.join(ROOT, 'configs', 'vpd',
                   'vpd_sd15-fpn_8xb2-80k_ade20k-512x512.py')
    cfg, lines = _override(seg, {'train_cfg.max_iters': 300})
    assert [s.end for s in cfg.param_scheduler] == [6, 301]
    nyu = osp.join(ROOT, 'configs', 'vpd', 'vpd_sd15_8xb3-25e_nyu-480x480.py')
    cfg, lines = _override(nyu, {'train_cfg.max_epochs': 5})
    (sched, ) = cfg.param_scheduler
    assert (sched.end, sched.peak) == (5, 2)
    assert 'TwoPhasePolyLR' in lines[0] and 'max_epochs 25 -> 5' in lines[0]


def test_overridden_schedulers_are_left_alone_but_flagged():
    cfg, lines = _override(QUICK, {'train_cfg.max_iters': 60,
                                   'param_scheduler.1.end': 300})
    warmup, poly = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, 50)  # inside the run: kept
    assert (poly.begin, poly.end) == (50, 300)
    assert len(lines) == 1
    assert 'param_scheduler[1] PolyLR (set by the overrides)' in lines[0]
    assert 'begin/end 50/300: outside the run' in lines[0]
    # consistent overrides (as tests/tools/test_train_test_tools.py) pass
    cfg, lines = _override(QUICK, {'train_cfg.max_iters': 3,
                                   'param_scheduler.0.end': 1,
                                   'param_scheduler.1.begin': 1,
                                   'param_scheduler.1.end': 3})
    assert lines == [] and cfg.param_scheduler[1].end == 3
    # a longer run, or none of the schedulers beyond it: nothing to do
    assert _override(QUICK, {'train_cfg.max_iters': 300})[1] == []
    assert _override(QUICK, {'train_cfg.val_interval': 10})[1] == []
