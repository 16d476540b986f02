"""mmengine's logger hook with a time floor: no long silences."""
from __future__ import annotations

import time
from typing import Optional, Sequence

from mmengine.hooks import LoggerHook

from vpd.registry import HOOKS


@HOOKS.register_module()
class ProgressLoggerHook(LoggerHook):
    """``LoggerHook`` that also logs when ``max_silence`` seconds have passed.

    mmengine logs every ``interval`` iterations (the line carries the ETA,
    from ``runner.log_processor``). A fixed interval suits one machine:
    ``interval=50`` is a line a minute on a GPU and one in 25 minutes for
    an SD-sized model on a CPU. This hook logs the same line (training,
    validation and test iterations) after ``interval`` iterations *or*
    after ``max_silence`` seconds since the last line, whichever comes
    first, so a run on a slow machine still shows its progress and ETA.

    Args:
        interval (int): Log every ``interval`` iterations. Defaults to 10.
        max_silence (float): Also log when this many seconds passed since
            the last line. Defaults to 30.
        **kwargs: The other arguments of mmengine's ``LoggerHook``.
    """

    def __init__(self, interval: int = 10, max_silence: float = 30.0,
                 **kwargs) -> None:
        super().__init__(interval=interval, **kwargs)
        if max_silence <= 0:
            raise ValueError(f'ProgressLoggerHook: max_silence must be > 0 '
                             f'seconds, got {max_silence}')
        self.max_silence = float(max_silence)
        self._last_line = time.monotonic()

    def _due(self, batch_idx: int) -> bool:
        """Whether a line is due by time (and not already by count)."""
        if self.every_n_inner_iters(batch_idx, self.interval):
            return False
        return time.monotonic() - self._last_line >= self.max_silence

    def before_train(self, runner) -> None:
        """Start the silence clock."""
        self._last_line = time.monotonic()

    def before_val_epoch(self, runner) -> None:
        """Start the silence clock."""
        self._last_line = time.monotonic()

    def before_test_epoch(self, runner) -> None:
        """Start the silence clock."""
        self._last_line = time.monotonic()

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Log by count (mmengine) or by time."""
        if self._due(batch_idx):
            tag, log_str = runner.log_processor.get_log_after_iter(
                runner, batch_idx, 'train')
            runner.logger.info(log_str)
            runner.visualizer.add_scalars(
                tag, step=runner.iter + 1, file_path=self.json_log_path)
            self._last_line = time.monotonic()
            return
        logged = (self.every_n_inner_iters(batch_idx, self.interval)
                  or self.end_of_epoch(runner.train_dataloader, batch_idx))
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        if logged:
            self._last_line = time.monotonic()

    def _after_eval_iter(self, runner, batch_idx: int, mode: str) -> bool:
        if self._due(batch_idx):
            _, log_str = runner.log_processor.get_log_after_iter(
                runner, batch_idx, mode)
            runner.logger.info(log_str)
            self._last_line = time.monotonic()
            return True
        if self.every_n_inner_iters(batch_idx, self.interval):
            self._last_line = time.monotonic()
        return False

    def after_val_iter(self, runner, batch_idx: int,
                       data_batch: Optional[dict] = None,
                       outputs: Optional[Sequence] = None) -> None:
        """Log by count (mmengine) or by time."""
        if not self._after_eval_iter(runner, batch_idx, 'val'):
            super().after_val_iter(runner, batch_idx, data_batch, outputs)

    def after_test_iter(self, runner, batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Log by count (mmengine) or by time."""
        if not self._after_eval_iter(runner, batch_idx, 'test'):
            super().after_test_iter(runner, batch_idx, data_batch, outputs)
