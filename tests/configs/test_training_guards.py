"""Every training config runs with the training guards: vpd's crash-safe
CheckpointHook, NonFiniteGuardHook and EmptyTargetHook."""
import glob
import os.path as osp

import pytest
from mmengine.registry import HOOKS

from vpd.engine.config_check import load_config
from vpd.engine.hooks import CheckpointHook

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for d in ('vpd', 'meta_prompts', 'quickstart')
    for p in glob.glob(osp.join(ROOT, 'configs', d, '*.py')))


@pytest.mark.parametrize('path', CONFIGS,
                         ids=lambda p: osp.basename(p)[:-3])
def test_config_has_the_guards(path):
    hooks = load_config(path).default_hooks
    assert hooks.non_finite.type == 'NonFiniteGuardHook'
    assert hooks.non_finite.action == 'stop'
    assert hooks.empty_target.type == 'EmptyTargetHook'
    assert type(HOOKS.build(dict(hooks.checkpoint))) is CheckpointHook
