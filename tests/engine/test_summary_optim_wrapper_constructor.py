"""The summary constructor: mmseg's parameter groups, one log line."""
import logging

import pytest
import torch.nn as nn
from mmengine.logging import MMLogger
from mmseg.engine.optimizers import ForceDefaultOptimWrapperConstructor

from vpd.engine.optimizers import SummaryOptimWrapperConstructor


class _Toy(nn.Module):
    """backbone.{unet,vae} + a head, with norms, biases and 1-D params."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.unet = nn.Sequential(nn.Conv2d(3, 4, 3),
                                           nn.GroupNorm(2, 4),
                                           nn.Conv2d(4, 4, 1, groups=4))
        self.backbone.vae = nn.Sequential(nn.Conv2d(3, 4, 3),
                                          nn.BatchNorm2d(4))
        for p in self.backbone.vae.parameters():
            p.requires_grad_(False)
        self.head = nn.Sequential(nn.Linear(4, 2), nn.LayerNorm(2))


CASES = [
    # the depth recipes (configs/_base_/schedules/depth_*.py)
    dict(force_default_settings=True, bias_decay_mult=0.0,
         norm_decay_mult=0.0, flat_decay_mult=0.0,
         custom_keys={'backbone.unet': dict(lr_mult=0.01),
                      'backbone.vae': dict(lr_mult=0.0, decay_mult=0.0)}),
    # mmengine's default behaviour (custom keys exclusive)
    dict(bias_lr_mult=2.0, dwconv_decay_mult=0.5,
         custom_keys={'backbone.unet': dict(lr_mult=0.1)}),
    None,
]


@pytest.mark.parametrize('paramwise_cfg', CASES)
def test_same_groups_as_mmseg(paramwise_cfg):
    model = _Toy()
    cfg = dict(type='OptimWrapper',
               optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1))
    ours = SummaryOptimWrapperConstructor(cfg, paramwise_cfg)(model)
    ref = ForceDefaultOptimWrapperConstructor(
        cfg, paramwise_cfg or dict(custom_keys={}))(model)

    def settings(wrapper):
        return {id(g['params'][0]): (g['lr'], g['weight_decay'])
                for g in wrapper.optimizer.param_groups
                if g['params'][0].requires_grad}

    assert settings(ours) == settings(ref)
    # frozen parameters are left out (mmseg keeps them, without gradients)
    frozen = {id(p) for p in model.backbone.vae.parameters()}
    assert not frozen & {id(g['params'][0])
                         for g in ours.optimizer.param_groups}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(ours.optimizer.param_groups) == len(trainable)


def test_one_summary_line_instead_of_one_per_parameter():
    records = []

    class _Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_instance('vpd-test-summary-constructor')
    handler = _Keep(level=logging.INFO)
    logger.addHandler(handler)
    try:
        model = _Toy()
        SummaryOptimWrapperConstructor(
            dict(type='OptimWrapper',
                 optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1)),
            CASES[0])(model)
    finally:
        logger.removeHandler(handler)
    assert len(records) == 1, records
    line = records[0]
    assert line.startswith('Optimizer AdamW lr 0.001 weight_decay 0.1: ')
    # unet: 2 conv (w+b) + groupnorm (w+b) = 6 tensors at x0.01, its 4
    # biases / norm / 1-D tensors without decay; head: 4, 3 without decay
    assert 'backbone.unet lr x0.01: 6 tensors (weight_decay x0: 4)' in line
    assert 'others lr x1: 4 tensors (weight_decay x0: 3)' in line
    assert 'frozen (not optimised): backbone.vae 4' in line
