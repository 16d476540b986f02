"""Mixed precision: dtype choice, bf16 autocast and bf16 storage of the
frozen VAE / UNet on a tiny model, the AMP test loop and the CPU autocast
optimizer wrapper."""
import types

import pytest
import torch
from mmengine.config import Config

from vpd.engine.precision import (autocast_inference, enable_amp_test,
                                  enable_amp_train, resolve_amp_dtype)
from vpd.registry import LOOPS, MODELS, OPTIM_WRAPPERS


def test_resolve_amp_dtype_cpu():
    assert resolve_amp_dtype(None, 'cpu') is None
    assert resolve_amp_dtype('none', 'cpu') is None
    assert resolve_amp_dtype('auto', 'cpu') == torch.bfloat16
    assert resolve_amp_dtype(True, 'cpu') == torch.bfloat16
    assert resolve_amp_dtype('bf16', 'cpu') == torch.bfloat16
    with pytest.raises(ValueError, match='fp16 needs a CUDA device'):
        resolve_amp_dtype('fp16', 'cpu')
    with pytest.raises(ValueError, match='--amp must be one of'):
        resolve_amp_dtype('int8', 'cpu')


def tiny_depth_model(dtype='float32'):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='DiffusionDepthEstimator',
        backbone=dict(type='StableDiffusionBackbone', unet='tiny',
                      vae='tiny', dtype=dtype),
        conditioner=dict(type='ClassEmbeddingConditioner', num_classes=3,
                         embed_dim=32, mode='per_image',
                         class_names=['a', 'b', 'c']),
        neck=dict(type='VPDDepthNeck', in_channels=[32, 64, 64, 64],
                  out_channels=64, num_groups=16),
        decode_head=dict(type='VPDDepthHead', in_channels=64, channels=32,
                         num_filters=[16, 16, 16]),
        test_cfg=dict(flip=False, shift_windows=1))).eval()


def test_bf16_autocast_and_bf16_storage_close_to_fp32_float32_out():
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    model = tiny_depth_model()
    cond = model.conditioner(1, None)['context']
    with torch.no_grad():
        ref = model.backbone(x, cond)
        with autocast_inference('bf16', 'cpu') as dtype:
            amp = model.backbone(x, cond)
            depth = model.predict(x)[0].pred_depth_map.data
    assert dtype == torch.bfloat16
    assert depth.dtype == torch.float32  # predict() casts back
    stored = tiny_depth_model('bfloat16')
    stored.load_state_dict(model.state_dict())  # casts into bf16 storage
    assert stored.backbone.unet.conv_in.weight.dtype == torch.bfloat16
    assert stored.backbone.vae.encoder.conv_in.weight.dtype == torch.bfloat16
    assert stored.decode_head.conv_layers[0].weight.dtype == torch.float32
    with torch.no_grad():
        low = stored.backbone(x, cond)
    for r, a, s in zip(ref, amp, low):
        assert a.dtype == s.dtype == torch.float32
        # bf16 keeps 8 mantissa bits: relative error ~2^-8 per op
        scale = r.abs().max()
        assert 0 < (a - r).abs().max() < 0.05 * scale
        assert 0 < (s - r).abs().max() < 0.05 * scale


def test_amp_test_loop_runs_the_model_under_autocast():
    seen = {}

    class Model:

        def test_step(self, data):
            seen['dtype'] = torch.get_autocast_dtype('cpu')
            seen['on'] = torch.is_autocast_enabled('cpu')
            return [data]

    class Evaluator:

        def process(self, data_samples, data_batch):
            seen['processed'] = data_samples

    runner = types.SimpleNamespace(model=Model(),
                                   call_hook=lambda *a, **k: None)
    loop = LOOPS.get('AmpTestLoop').__new__(LOOPS.get('AmpTestLoop'))
    loop._runner = runner
    loop.evaluator = Evaluator()
    loop.test_loss = {}
    loop.device_type, loop.dtype = 'cpu', torch.bfloat16
    loop.run_iter(0, {'x': 1})
    assert seen == dict(dtype=torch.bfloat16, on=True, processed=[{'x': 1}])
    cfg = Config(dict(test_cfg=dict(type='TestLoop')))
    assert enable_amp_test(cfg, 'bf16') == torch.bfloat16
    assert cfg.test_cfg == dict(type='AmpTestLoop', dtype='bfloat16')


def test_cpu_amp_training_uses_autocast_optim_wrapper():
    cfg = Config(dict(optim_wrapper=dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
    assert enable_amp_train(cfg, 'auto') == torch.bfloat16
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    layer = torch.nn.Linear(4, 4)
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='AutocastOptimWrapper', dtype='bfloat16',
        optimizer=torch.optim.SGD(layer.parameters(), lr=0.1)))
    with wrapper.optim_context(layer):
        out = layer(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert layer.weight.dtype == torch.float32
    with pytest.raises(ValueError, match='float16 autocast needs a CUDA'):
        OPTIM_WRAPPERS.build(dict(
            type='AutocastOptimWrapper', dtype='float16',
            optimizer=torch.optim.SGD(layer.parameters(), lr=0.1)))
    bad = Config(dict(optim_wrapper=dict(type='OptimWrapperDict')))
    with pytest.raises(ValueError, match='OptimWrapper, got'):
        enable_amp_train(bad, 'auto')
