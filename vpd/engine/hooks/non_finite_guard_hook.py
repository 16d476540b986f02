"""Stop (or skip) training steps whose loss or gradients are NaN/Inf."""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from vpd.registry import HOOKS
from vpd.utils.checkpoint import all_finite

ACTIONS = ('stop', 'skip')


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/Inf loss or gradient (training diverged)."""


def _optimizers(optim_wrapper) -> List[torch.optim.Optimizer]:
    """The torch optimizers behind an (Amp)OptimWrapper / OptimWrapperDict."""
    wrappers = getattr(optim_wrapper, 'optim_wrappers', None)
    if wrappers is not None:
        return [w.optimizer for w in wrappers.values()]
    optimizer = getattr(optim_wrapper, 'optimizer', None)
    return [] if optimizer is None else [optimizer]


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Never let a NaN/Inf loss or gradient update the weights.

    Hand-written: mmengine only offers ``clip_grad(error_if_nonfinite=True)``
    (no loss check, a message without the iteration or the loss terms) and
    ``AmpOptimWrapper``'s loss scaler (skips inf gradients of fp16 training
    only, silently).

    Two checks per training iteration:

    * **gradients**, just before every ``optimizer.step()`` (a step pre-hook
      registered with PyTorch's ``Optimizer.register_step_pre_hook``, so it
      runs after mmengine's gradient clipping and for every optim wrapper):
      if any gradient holds NaN/Inf, all gradients are dropped
      (``p.grad = None``) and the optimizer step changes nothing;
    * **loss terms** (every ``*loss*`` entry the model returns), after the
      iteration.

    On a bad iteration, with ``action='stop'`` (default) training stops with
    :class:`NonFiniteLossError` naming the iteration, the loss terms and
    their values, the first parameters with non-finite gradients and what to
    try; its priority (``'HIGH'``) is above ``CheckpointHook``'s, so nothing
    is saved after the bad step. With ``action='skip'`` the step is skipped
    (parameters untouched, floating-point buffers such as BatchNorm running
    statistics restored) and counted; each skip is logged with the running
    count, and more than ``max_consecutive_skips`` bad iterations in a row
    stop training as ``'stop'`` does. With AMP (``AmpOptimWrapper``), inf
    gradients that the loss scaler already skips never reach the check.

    Args:
        action (str): ``'stop'`` or ``'skip'``. Defaults to ``'stop'``.
        max_consecutive_skips (int): With ``'skip'``, stop after this many
            bad iterations in a row. Defaults to 20.
    """

    priority = 'HIGH'

    def __init__(self, action: str = 'stop',
                 max_consecutive_skips: int = 20) -> None:
        if action not in ACTIONS:
            raise ValueError(
                f'NonFiniteGuardHook action must be one of {ACTIONS}, got '
                f'{action!r}')
        if int(max_consecutive_skips) < 1:
            raise ValueError('NonFiniteGuardHook max_consecutive_skips must '
                             f'be >= 1, got {max_consecutive_skips}')
        self.action = action
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.num_skipped = 0
        self._consecutive = 0
        self._handles: list = []
        self._param_names: Dict[int, str] = {}
        self._bad_grads: Optional[List[str]] = None
        self._applied = False
        self._num_params = 0
        self._buffers: Optional[List[torch.Tensor]] = None

    # ------------------------------------------------------------------
    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        """Register the gradient check on every optimizer.

        Args:
            runner (Runner): The runner.
        """
        self._param_names = {
            id(p): name
            for name, p in self._model(runner).named_parameters()
        }
        for optimizer in _optimizers(runner.optim_wrapper):
            self._handles.append(
                optimizer.register_step_pre_hook(self._check_gradients))
            self._handles.append(
                optimizer.register_step_post_hook(self._record_step))

    def after_train(self, runner) -> None:
        """Remove the gradient check; report the skipped steps.

        Args:
            runner (Runner): The runner.
        """
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self.num_skipped:
            runner.logger.warning(
                f'NonFiniteGuardHook: {self.num_skipped} training step(s) '
                'with a NaN/Inf loss or gradient were skipped in this run.')

    def _check_gradients(self, optimizer, args, kwargs) -> None:
        """Optimizer step pre-hook: drop the gradients if any is not finite."""
        params = [p for group in optimizer.param_groups
                  for p in group['params'] if p.grad is not None]
        if not params:
            return
        # one batched check; each gradient is looked at only if it fails
        if all_finite([p.grad for p in params if p.grad.numel()]):
            return
        bad = [self._param_names.get(id(p), f'<parameter {i}>')
               for i, p in enumerate(params)
               if not bool(torch.isfinite(p.grad).all())]
        self._bad_grads = (self._bad_grads or []) + bad
        self._num_params += len(params)
        for p in params:
            p.grad = None  # the step leaves every parameter untouched

    def _record_step(self, optimizer, args, kwargs) -> None:
        """Optimizer step post-hook: remember whether weights changed."""
        if self._bad_grads is None:
            self._applied = True

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Snapshot floating-point buffers (``'skip'`` only).

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch.
            data_batch (dict, optional): The batch.
        """
        self._bad_grads = None
        self._applied = False
        self._num_params = 0
        if self.action == 'skip':
            self._buffers = [
                b.detach().clone()
                for b in self._model(runner).buffers()
                if b.is_floating_point()
            ]

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        """Stop or skip when the loss or a gradient was not finite.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch.
            data_batch (dict, optional): The batch.
            outputs (dict, optional): The model's log variables.

        Raises:
            NonFiniteLossError: With ``'stop'``, or after too many
                consecutive skips.
        """
        terms = {}
        for key, value in (outputs or {}).items():
            if 'loss' not in key:
                continue
            try:
                terms[key] = (value.item() if isinstance(value, torch.Tensor)
                              else float(value))
            except (TypeError, ValueError, RuntimeError):
                continue
        bad_loss = any(not math.isfinite(v) for v in terms.values())
        bad_grads = self._bad_grads
        self._bad_grads = None
        if not bad_loss and not bad_grads:
            self._consecutive = 0
            return
        what = self._describe(runner, terms, bad_loss, bad_grads)
        update = ('its update was applied (the gradients were finite)'
                  if self._applied else 'the weights were not updated')
        if self.action == 'skip':
            self._restore_buffers(runner)
            self.num_skipped += 1
            self._consecutive += 1
            if self._consecutive <= self.max_consecutive_skips:
                runner.logger.warning(
                    f'{what} Step skipped, {update} ({self.num_skipped} '
                    'skipped so far).')
                return
            what += (f' {self._consecutive} bad iterations in a row: the '
                     'run does not recover by skipping.')
        last = runner.message_hub.get_info('last_ckpt')
        kept = (f'The last checkpoint, {last}, was written before it.'
                if last else 'No checkpoint was written.')
        raise NonFiniteLossError(
            f'{what} Training stopped; {update}. {kept} Try a lower '
            'learning rate (optim_wrapper.optimizer.lr), training without '
            '--amp, or checking the data; to skip such steps instead, set '
            "default_hooks.non_finite.action='skip'.")

    # ------------------------------------------------------------------
    def _describe(self, runner, terms: Dict[str, float], bad_loss: bool,
                  bad_grads: Optional[Sequence[str]]) -> str:
        parts = []
        if terms:
            values = ', '.join(f'{k}={v:.4g}' for k, v in terms.items())
            parts.append(('non-finite loss' if bad_loss else 'loss') +
                         f' ({values})')
        if bad_grads:
            shown = ', '.join(bad_grads[:3])
            more = ', ...' if len(bad_grads) > 3 else ''
            parts.append(
                f'NaN/Inf gradients in {len(bad_grads)} of '
                f'{self._num_params} parameters ({shown}{more})')
        return (f'Training diverged at iteration {runner.iter + 1}: ' +
                '; '.join(parts) + '.')

    def _restore_buffers(self, runner) -> None:
        if not self._buffers:
            return
        buffers = [b for b in self._model(runner).buffers()
                   if b.is_floating_point()]
        if len(buffers) != len(self._buffers):
            return
        with torch.no_grad():
            for b, saved in zip(buffers, self._buffers):
                b.copy_(saved)
