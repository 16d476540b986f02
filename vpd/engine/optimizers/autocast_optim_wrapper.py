"""bf16 autocast training without loss scaling (CPU or CUDA)."""
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from vpd.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """:class:`mmengine.optim.OptimWrapper` whose forward runs under
    ``torch.autocast`` (``tools/train.py --amp`` on a CPU).

    mmengine's ``AmpOptimWrapper`` needs a CUDA (NPU, MLU) device for its
    gradient scaler. bfloat16 keeps float32's exponent range, so it needs
    no loss scaling: this wrapper only adds the autocast context and works
    on CPU and CUDA. Weights, gradients and optimizer states stay float32.

    Args:
        dtype (str): ``'bfloat16'`` (or ``'float16'`` on CUDA, without loss
            scaling; prefer ``AmpOptimWrapper`` for fp16). Defaults to
            ``'bfloat16'``.
        device_type (str, optional): ``'cpu'`` or ``'cuda'``; defaults to
            CUDA when available.
        **kwargs: :class:`OptimWrapper` arguments (``optimizer``,
            ``clip_grad``, ``accumulative_counts``).

    Raises:
        ValueError: Unknown dtype, or float16 on a CPU.
    """

    def __init__(self, dtype: str = 'bfloat16', device_type: str = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        from vpd.engine.precision import default_device_type
        self.device_type = device_type or default_device_type()
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f'AutocastOptimWrapper dtype must be '
                             f'"bfloat16" or "float16", got "{dtype}"')
        if dtype == 'float16' and self.device_type != 'cuda':
            raise ValueError('AutocastOptimWrapper: float16 autocast needs a '
                             'CUDA device; use dtype="bfloat16" on a CPU')
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of mmengine, plus autocast."""
        with super().optim_context(model), torch.autocast(
                device_type=self.device_type, dtype=self.cast_dtype):
            yield
