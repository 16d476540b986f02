"""mmengine's ``FlexibleRunner`` (sharded training) with the project's quiet
start-up: the config goes to the work dir, not to the console."""
from __future__ import annotations

import os.path as osp

from mmengine.dist import master_only
from mmengine.runner import FlexibleRunner

from vpd.registry import RUNNERS


@RUNNERS.register_module()
class VPDFlexibleRunner(FlexibleRunner):
    """``FlexibleRunner`` that does not print the whole config.

    The runner of ``tools/train.py --strategy fsdp|deepspeed``
    (:func:`vpd.engine.sharding.configure_strategy`). Like
    :class:`~vpd.engine.runners.VPDRunner` for the other runs: the
    environment is logged as mmengine logs it, then one line naming the
    file the config is written to, ``<work_dir>/<timestamp>/<config name>``
    next to the run's log, instead of the few hundred lines of config text
    (which mmengine also formats with yapf on every rank, about a quarter of
    the start-up of a small run); ``log_config=True`` in the config prints
    it as mmengine would. Everything else is mmengine's runner.
    """

    def _log_env(self) -> None:
        """Log the environment (as mmengine), and where the config goes."""
        if self.cfg.get('log_config', False):
            super()._log_env()
            return
        system_env, runtime_env = self.strategy.collect_env()
        dash_line = '-' * 60
        self.logger.info(
            '\n' + dash_line + '\nSystem environment:\n    ' +
            '\n    '.join(f'{k}: {v}' for k, v in system_env.items()) +
            '\n\nRuntime environment:\n    ' +
            '\n    '.join(f'{k}: {v}' for k, v in runtime_env.items()) +
            '\n' + dash_line)
        self.logger.info(f'Config: written to {self._config_path()} '
                         '(--cfg-options log_config=True prints it here)')

    def _config_path(self) -> str:
        if self.cfg.filename is not None:
            name = osp.basename(self.cfg.filename)
        else:
            name = f'{self.timestamp}.py'
        return osp.join(self.log_dir, name)

    @master_only
    def dump_config(self) -> None:
        """Write the config next to this run's log (``log_dir``)."""
        self.cfg.dump(self._config_path())
