"""The project's mmengine runner: a short console start-up."""
from __future__ import annotations

from collections import OrderedDict

from mmengine.runner import Runner
from mmengine.utils.dl_utils import collect_env

from vpd.registry import RUNNERS
from .quiet_startup import QuietStartupMixin


@RUNNERS.register_module()
class VPDRunner(QuietStartupMixin, Runner):
    """mmengine's ``Runner`` with a short console start-up.

    Instead of the config text, the environment and the hook-priority
    table (several hundred lines), the console gets one line naming the
    config file written next to the run's log; the environment and hook
    table are in the log file (:class:`QuietStartupMixin`).
    ``log_config=True`` prints everything as mmengine would. Everything
    else is mmengine's runner. The configs select it with
    ``runner_type = 'VPDRunner'`` (``configs/_base_/default_runtime.py``);
    ``tools/train.py`` and ``tools/test.py`` build the runner from
    ``runner_type``.
    """

    def _log_env(self, env_cfg: dict) -> None:
        """Log the environment (as mmengine), and where the config goes.

        Args:
            env_cfg (dict): The runner's environment config.
        """
        if self.cfg.get('log_config', False):
            super()._log_env(env_cfg)
            return
        runtime_env = OrderedDict(env_cfg)
        runtime_env.update(self._randomness_cfg)
        runtime_env['seed'] = self._seed
        runtime_env['Distributed launcher'] = self._launcher
        runtime_env['Distributed training'] = self._distributed
        runtime_env['GPU number'] = self._world_size
        self._log_quiet_env(collect_env(), runtime_env)
