"""mmengine's ``FlexibleRunner`` (sharded training) with the project's quiet
start-up."""
from __future__ import annotations

from mmengine.runner import FlexibleRunner

from vpd.registry import RUNNERS
from .quiet_startup import QuietStartupMixin


@RUNNERS.register_module()
class VPDFlexibleRunner(QuietStartupMixin, FlexibleRunner):
    """``FlexibleRunner`` with the short console start-up of ``VPDRunner``.

    The runner of ``tools/train.py --strategy fsdp|deepspeed``
    (:func:`vpd.engine.sharding.configure_strategy`). The config is not
    printed (mmengine also formats it with yapf on every rank, about a
    quarter of the start-up of a small run) but written next to the run's
    log; the environment and hook table go to the log file
    (:class:`~vpd.engine.runners.quiet_startup.QuietStartupMixin`);
    ``log_config=True`` prints everything as mmengine would. Everything else
    is mmengine's runner.
    """

    def _log_env(self) -> None:
        """Log the environment (as mmengine), and where the config goes."""
        if self.cfg.get('log_config', False):
            super()._log_env()
            return
        self._log_quiet_env(*self.strategy.collect_env())
