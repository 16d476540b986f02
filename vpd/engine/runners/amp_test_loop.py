"""mmengine's test loop under autocast with a chosen dtype."""
from typing import Dict, List, Sequence, Union

import torch
from mmengine.runner.loops import TestLoop, _update_losses
from torch.utils.data import DataLoader

from vpd.registry import LOOPS


@LOOPS.register_module()
class AmpTestLoop(TestLoop):
    """:class:`mmengine.runner.TestLoop` whose model calls run under
    ``torch.autocast`` with ``dtype`` (``tools/test.py --amp``).

    mmengine's own ``TestLoop(fp16=True)`` always uses float16 on CUDA and
    cannot pick bfloat16; this loop takes the dtype and works on CPU
    (bfloat16) and CUDA (bfloat16 or float16). Everything else (hooks,
    evaluation) is mmengine's loop.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Test dataloader.
        evaluator (Evaluator | dict | list): Test evaluator.
        dtype (str): ``'bfloat16'`` or ``'float16'``. Defaults to
            ``'bfloat16'``.
        device_type (str, optional): ``'cpu'`` or ``'cuda'``; defaults to
            CUDA when available.

    Raises:
        ValueError: Unknown dtype, or float16 on a CPU.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Dict, List],
                 dtype: str = 'bfloat16',
                 device_type: str = None) -> None:
        super().__init__(runner, dataloader, evaluator, fp16=False)
        from vpd.engine.precision import default_device_type
        self.device_type = device_type or default_device_type()
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f'AmpTestLoop dtype must be "bfloat16" or '
                             f'"float16", got "{dtype}"')
        if dtype == 'float16' and self.device_type != 'cuda':
            raise ValueError('AmpTestLoop: float16 autocast needs a CUDA '
                             'device; use dtype="bfloat16" on a CPU')
        self.dtype = getattr(torch, dtype)

    @torch.no_grad()
    def run_iter(self, idx, data_batch: Sequence[dict]) -> None:
        """One test batch, the model call under autocast."""
        self.runner.call_hook(
            'before_test_iter', batch_idx=idx, data_batch=data_batch)
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            outputs = self.runner.model.test_step(data_batch)
        outputs, self.test_loss = _update_losses(outputs, self.test_loss)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(
            'after_test_iter', batch_idx=idx, data_batch=data_batch,
            outputs=outputs)
