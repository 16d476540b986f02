"""Mixed precision for testing, inference and training.

One place decides which autocast dtype a run uses and how it is switched
on, for ``tools/test.py --amp``, ``tools/inference.py --amp``,
``tools/train.py --amp``, the API (:func:`autocast_inference`) and
``tools/analysis_tools/benchmark.py --amp``:

* ``'bf16'``: bfloat16 autocast on CPU or CUDA (CUDA needs a device that
  supports it, Ampere or newer);
* ``'fp16'``: float16 autocast, CUDA only (training adds dynamic loss
  scaling through mmengine's ``AmpOptimWrapper``);
* ``'auto'``: bf16 where the device supports it, else fp16 on CUDA; bf16 on
  CPU.

Weights stay float32 (autocast runs matmuls and convolutions in the low
precision); ``model.backbone.dtype='bfloat16'`` additionally *stores* the
frozen VAE and the UNet in bf16 (inference only).

On a CPU without bf16 instructions (AVX512-BF16 / AMX) PyTorch emulates
bf16 matrix products and they are far slower than float32: on the 2-core
AMD EPYC (Zen 3) this project is measured on, a 1024x1024 bf16 matmul runs
at 0.7 GFLOP/s against 50 GFLOP/s in float32. :func:`warn_if_emulated`
says so when such a run starts.
"""
import contextlib
import logging
from typing import Optional, Union

import torch

AMP_CHOICES = ('auto', 'bf16', 'fp16')
_NAMES = {'bf16': torch.bfloat16, 'bfloat16': torch.bfloat16,
          'fp16': torch.float16, 'float16': torch.float16}


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AVX512-BF16 or AMX)."""
    cpu = getattr(torch._C, '_cpu', None)
    if cpu is None:
        return False
    for probe in ('_is_avx512_bf16_supported', '_is_amx_tile_supported'):
        fn = getattr(cpu, probe, None)
        if fn is not None and fn():
            return True
    return False


def default_device_type() -> str:
    """``'cuda'`` when a GPU is visible, else ``'cpu'``."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def resolve_amp_dtype(amp: Optional[Union[str, bool]],
                      device_type: Optional[str] = None
                      ) -> Optional[torch.dtype]:
    """The autocast dtype of an ``--amp`` choice on a device.

    Args:
        amp (str | bool | None): ``'auto'``, ``'bf16'``, ``'fp16'`` (also
            ``'bfloat16'`` / ``'float16'``); True means ``'auto'``; None,
            False, ``'none'`` or ``'fp32'`` mean no autocast.
        device_type (str, optional): ``'cpu'`` or ``'cuda'``. Defaults to
            the CUDA device when there is one.

    Returns:
        torch.dtype | None: ``torch.bfloat16``, ``torch.float16`` or None.

    Raises:
        ValueError: Unknown choice, fp16 on a CPU, or bf16 on a CUDA device
            without bf16 support.
    """
    if amp is None or amp is False or amp in ('none', 'fp32', 'float32'):
        return None
    device_type = device_type or default_device_type()
    if amp is True or amp == 'auto':
        if device_type == 'cuda' and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    if amp not in _NAMES:
        raise ValueError(f'--amp must be one of {list(AMP_CHOICES)}, got '
                         f'"{amp}"')
    dtype = _NAMES[amp]
    if dtype == torch.float16 and device_type != 'cuda':
        raise ValueError('--amp fp16 needs a CUDA device (CPU autocast '
                         'supports bf16 only); use --amp bf16')
    if (dtype == torch.bfloat16 and device_type == 'cuda'
            and not torch.cuda.is_bf16_supported()):
        raise ValueError('--amp bf16: this CUDA device does not support '
                         'bfloat16; use --amp fp16')
    return dtype


def dtype_name(dtype: Optional[torch.dtype]) -> str:
    """``'bfloat16'``, ``'float16'`` or ``'float32'`` (None)."""
    return 'float32' if dtype is None else str(dtype).replace('torch.', '')


def warn_if_emulated(dtype: Optional[torch.dtype], device_type: str,
                     logger: Optional[logging.Logger] = None) -> bool:
    """Warn when bf16 runs on a CPU without bf16 instructions.

    Returns:
        bool: True when it warned.
    """
    if dtype != torch.bfloat16 or device_type != 'cpu' or cpu_has_bf16():
        return False
    msg = ('bf16 on this CPU is emulated (no AVX512-BF16 / AMX): expect it '
           'to be much slower than float32; use it to check accuracy, or '
           'run on a GPU or a CPU with bf16 instructions for speed')
    from mmengine.logging import print_log
    print_log(msg, logger=logger or 'current', level=logging.WARNING)
    return True


def autocast(dtype: Optional[torch.dtype],
             device_type: Optional[str] = None):
    """``torch.autocast`` for ``dtype`` (a null context for None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type or default_device_type(),
                          dtype=dtype)


@contextlib.contextmanager
def autocast_inference(amp: Optional[Union[str, bool]] = 'auto',
                       device: Union[str, torch.device, None] = None):
    """Run inference under mixed precision (the API's ``--amp``).

    ::

        from vpd.apis import autocast_inference, inference_model, init_model
        model = init_model(config, checkpoint, device='cuda:0')
        with autocast_inference('bf16', model.device):
            sample = inference_model(model, 'room.jpg')

    Outputs (depth in metres, segmentation logits) come back as float32:
    the models' heads end in float32 post-processing.

    Args:
        amp (str | bool | None): See :func:`resolve_amp_dtype`.
        device (str | torch.device, optional): The model's device; its type
            selects CPU or CUDA autocast. Defaults to CUDA when available.
    """
    device_type = (torch.device(device).type if device is not None else
                   default_device_type())
    dtype = resolve_amp_dtype(amp, device_type)
    warn_if_emulated(dtype, device_type)
    with autocast(dtype, device_type):
        yield dtype


def enable_amp_test(cfg, amp: Union[str, bool] = 'auto') -> torch.dtype:
    """Make a config's test loop run under autocast (``tools/test.py
    --amp``): ``test_cfg`` becomes :class:`AmpTestLoop` with the dtype.

    Args:
        cfg (Config): The run's config; ``cfg.test_cfg`` is changed.
        amp (str | bool): See :func:`resolve_amp_dtype`.

    Returns:
        torch.dtype: The autocast dtype.
    """
    dtype = resolve_amp_dtype(amp)
    loop = dict(cfg.get('test_cfg') or {})
    kind = loop.pop('type', 'TestLoop')
    if kind not in ('TestLoop', 'AmpTestLoop'):
        raise ValueError(f'--amp needs test_cfg type TestLoop, got "{kind}"')
    loop.pop('fp16', None)
    loop.update(type='AmpTestLoop', dtype=dtype_name(dtype))
    cfg.test_cfg = loop
    warn_if_emulated(dtype, default_device_type())
    return dtype


def enable_amp_train(cfg, amp: Union[str, bool] = 'auto') -> torch.dtype:
    """Mixed-precision training for ``tools/train.py --amp``.

    On CUDA the optimizer wrapper becomes mmengine's ``AmpOptimWrapper``
    (bf16 where the GPU supports it, else fp16 with dynamic loss scaling);
    on a CPU it becomes :class:`AutocastOptimWrapper` (bf16 autocast, no
    loss scaling, which bf16's float32 exponent range does not need).

    Args:
        cfg (Config): The run's config; ``cfg.optim_wrapper`` is changed.
        amp (str | bool): See :func:`resolve_amp_dtype`.

    Returns:
        torch.dtype: The autocast dtype.

    Raises:
        ValueError: The config's optimizer wrapper is not a plain
            ``OptimWrapper`` (nor already an AMP one).
    """
    device_type = default_device_type()
    dtype = resolve_amp_dtype(amp, device_type)
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if kind in ('AmpOptimWrapper', 'AutocastOptimWrapper'):
        from mmengine.logging import print_log
        print_log('AMP training is already enabled in your config.',
                  logger='current', level=logging.WARNING)
        return getattr(torch, wrapper.get('dtype', None) or 'float16')
    if kind != 'OptimWrapper':
        raise ValueError('--amp is only supported when the optimizer wrapper '
                         f'type is OptimWrapper, got "{kind}"')
    if device_type == 'cuda':
        wrapper.type = 'AmpOptimWrapper'
        wrapper.dtype = dtype_name(dtype)
        wrapper.loss_scale = 'dynamic'
    else:
        wrapper.type = 'AutocastOptimWrapper'
        wrapper.dtype = dtype_name(dtype)
    warn_if_emulated(dtype, device_type)
    return dtype
