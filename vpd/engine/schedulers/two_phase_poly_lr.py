"""The VPD depth learning-rate schedule: min -> max -> min, power 0.9."""
from typing import Optional

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler

from vpd.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class TwoPhasePolyLR(LRSchedulerMixin, _ParamScheduler):
    """Rise from ``min_ratio * lr`` to ``lr`` until ``peak``, then fall back.

    With ``x = step / peak`` (steps counted from 1, as the reference):
    ``factor = r + (1 - r) * x ** power`` while ``x < 1``, then
    ``factor = max(r, 1 - (1 - r) * (x - 1) ** power)``, where ``r =
    min_ratio``. Each parameter group's lr is its initial lr (with any
    ``lr_mult``) times ``factor``. The official VPD / Meta Prompts depth
    recipe: max lr 5e-4, min lr 3e-5 (``min_ratio=0.06``), ``peak`` at half
    the epochs (``epochs // 2``). mmengine has warm-up and poly decay but not
    this power-shaped rise, hence this class.

    Args:
        optimizer: Wrapped optimizer.
        min_ratio (float): Minimum lr as a fraction of the maximum.
        peak (int): Step (or epoch, with ``by_epoch``) of the maximum.
            Defaults to half of ``end - begin``.
        power (float): Shape of both phases. Defaults to 0.9.
        begin (int): First step. Defaults to 0.
        end (int): Last step. Defaults to INF.
        last_step (int): Defaults to -1.
        by_epoch (bool): Defaults to True.
        verbose (bool): Defaults to False.
    """

    def __init__(self,
                 optimizer,
                 min_ratio: float,
                 peak: Optional[int] = None,
                 power: float = 0.9,
                 begin: int = 0,
                 end: int = int(1e9),
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if not 0 < min_ratio <= 1:
            raise ValueError(f'min_ratio must be in (0, 1], got {min_ratio}')
        self.min_ratio = min_ratio
        self.power = power
        self.peak = peak if peak is not None else max(1, (end - begin) // 2)
        super().__init__(optimizer, begin=begin, end=end,
                         last_step=last_step, by_epoch=by_epoch,
                         verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, begin=0, end=int(1e9), peak=None,
                              by_epoch=True, epoch_length=None, **kwargs):
        """Build an iteration-based instance from epoch-based arguments."""
        if epoch_length is None or epoch_length <= 0:
            raise ValueError('epoch_length must be a positive integer, got '
                             f'{epoch_length}')
        peak_it = None if peak is None else peak * epoch_length
        return cls(*args, begin=begin * epoch_length,
                   end=end * epoch_length if end != int(1e9) else end,
                   peak=peak_it, by_epoch=False, **kwargs)

    def factor(self, step: int) -> float:
        """The lr factor at ``step`` (counted from 0 at ``begin``)."""
        r, p = self.min_ratio, self.power
        x = (step + 1) / self.peak
        if x < 1:
            return r + (1 - r) * x**p
        return max(r, 1 - (1 - r) * (x - 1)**p)

    def _get_value(self):
        f = self.factor(self.last_step)
        return [
            group['initial_lr'] * f for group in self.optimizer.param_groups
        ]
