"""Sharded training: --strategy configs, and FSDP over 2 gloo processes on
the CPU through tools/dist_train.sh (tiny preset), whose consolidated
checkpoint keeps the official recipe's parameter groups and loads strictly
into a plain model."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from vpd.engine.sharding import (configure_strategy,
                                 diffusion_block_wrap_policy,
                                 param_group_table, strip_wrapper_names)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICK = osp.join(ROOT, 'configs', 'quickstart',
                 'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')
# the official VPD depth recipe's groups: UNet lr x0.01, frozen VAE, no
# decay on biases / norms / 1-D parameters
RECIPE = f'''
_base_ = ['{QUICK}']
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    constructor='ForceDefaultOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.1),
    paramwise_cfg=dict(
        force_default_settings=True, bias_decay_mult=0.0,
        norm_decay_mult=0.0, flat_decay_mult=0.0,
        custom_keys={{'backbone.unet': dict(lr_mult=0.01),
                     'backbone.vae': dict(lr_mult=0.0, decay_mult=0.0)}}))
param_scheduler = []
'''


def test_configure_strategy():
    cfg = Config(dict(launcher='pytorch', optim_wrapper=dict(
        type='OptimWrapper'), model_wrapper_cfg=dict(type='X')))
    assert configure_strategy(cfg, 'ddp') is cfg and 'strategy' not in cfg
    configure_strategy(cfg, 'fsdp')
    assert cfg.runner_type == 'FlexibleRunner'
    assert 'model_wrapper_cfg' not in cfg
    wrapper = cfg.strategy.model_wrapper
    assert cfg.strategy.type == 'ParamGroupFSDPStrategy'
    assert cfg.strategy.state_dict_cfg == 'full'  # consolidated checkpoints
    assert wrapper.use_orig_params and wrapper.auto_wrap_policy == (
        'diffusion_block_wrap_policy')
    with pytest.raises(ValueError, match='dist_train.sh'):
        configure_strategy(Config(dict(launcher='none', optim_wrapper={})),
                           'fsdp')
    with pytest.raises(ValueError, match='--strategy must be one of'):
        configure_strategy(cfg, 'zero3')
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='deepspeed needs CUDA'):
            configure_strategy(Config(dict(
                launcher='pytorch', optim_wrapper=dict(type='OptimWrapper'))),
                'deepspeed')
    from diffusers.models.resnet import ResnetBlock2D
    block = ResnetBlock2D(in_channels=8, out_channels=8, temb_channels=None,
                          groups=4)
    assert diffusion_block_wrap_policy(block, recurse=False)
    assert not diffusion_block_wrap_policy(torch.nn.Conv2d(1, 1, 1), False)
    assert strip_wrapper_names('a._fsdp_wrapped_module.b') == 'a.b'


def test_fsdp_two_gloo_processes_keep_param_groups_and_load_plain(tmp_path):
    sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
    from make_synthetic_depth import make_synthetic_depth
    data = str(tmp_path / 'data')
    make_synthetic_depth(data, num_train=4, num_test=2, height=32, width=48,
                         seed=0)
    cfg_path = tmp_path / 'recipe.py'
    cfg_path.write_text(RECIPE)
    work = str(tmp_path / 'work')
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, PORT=str(port), OMP_NUM_THREADS='1',
               PATH=osp.dirname(sys.executable) + os.pathsep +
               os.environ.get('PATH', ''))
    opts = [f'{k}.dataset.data_root={data}' for k in (
        'train_dataloader', 'val_dataloader', 'test_dataloader')] + [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'train_cfg.max_iters=1', 'train_cfg.val_interval=1000',
        'default_hooks.checkpoint.interval=1']
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), str(cfg_path),
         '2', '--strategy', 'fsdp', '--work-dir', work, '--cfg-options',
         *opts], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'FullyShardedDataParallel' in proc.stdout + proc.stderr
    ckpt_path = osp.join(work, 'iter_1.pth')

    from mmengine.optim import build_optim_wrapper

    from vpd.apis import load_model_weights
    from vpd.registry import MODELS
    from vpd.utils.checkpoint import load_checkpoint_file
    cfg = Config.fromfile(str(cfg_path))
    model = MODELS.build(cfg.model)
    expected = param_group_table(
        build_optim_wrapper(model, cfg.optim_wrapper).optimizer, model)
    ckpt = load_checkpoint_file(ckpt_path)
    # consolidated: original names, one full tensor each
    assert not any('_fsdp' in k for k in ckpt['state_dict'])
    got = {}
    for group in ckpt['optimizer']['param_groups']:
        for name in group['params']:
            got[strip_wrapper_names(name)] = (group['lr'],
                                              group['weight_decay'])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(expected) == trainable
    assert trainable <= set(got)
    for name in trainable:
        assert got[name][0] == pytest.approx(expected[name][0]), name
        assert got[name][1] == expected[name][1], name
    unet = [got[n][0] for n in trainable if n.startswith('backbone.unet.')]
    assert unet and all(lr == pytest.approx(5e-6) for lr in unet)  # x0.01
    assert got['backbone.unet.conv_in.bias'][1] == 0.0  # no decay on 1-D
    assert got['neck.layer1.0.weight'] == (pytest.approx(5e-4), 0.1)
    # the consolidated weights load strictly into a plain model
    load_model_weights(model, ckpt_path)
    for name, value in ckpt['state_dict'].items():
        assert torch.equal(model.state_dict()[name], value), name
