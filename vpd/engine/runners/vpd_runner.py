"""The project's mmengine runner: the config goes to the work dir."""
from __future__ import annotations

import os.path as osp
from collections import OrderedDict

from mmengine.dist import master_only
from mmengine.runner import Runner
from mmengine.utils.dl_utils import collect_env

from vpd.registry import RUNNERS


@RUNNERS.register_module()
class VPDRunner(Runner):
    """mmengine's ``Runner`` that does not print the whole config.

    mmengine logs the full config (a few hundred lines for these models) to
    the console and the log file at start-up, and also writes it to the work
    dir (``Runner.dump_config``). This runner logs the environment as
    mmengine does and, instead of the config text, one line naming the
    file it is written to, ``<work_dir>/<timestamp>/<config name>``, next
    to the run's log; ``log_config=True`` in the config
    (``--cfg-options log_config=True``) prints it as mmengine would.
    The environment block is written as mmengine writes it (the method
    that logs both is re-implemented without the config part). Everything
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
        env = collect_env()
        runtime_env = OrderedDict(env_cfg)
        runtime_env.update(self._randomness_cfg)
        runtime_env['seed'] = self._seed
        runtime_env['Distributed launcher'] = self._launcher
        runtime_env['Distributed training'] = self._distributed
        runtime_env['GPU number'] = self._world_size
        dash_line = '-' * 60
        self.logger.info(
            '\n' + dash_line + '\nSystem environment:\n    ' +
            '\n    '.join(f'{k}: {v}' for k, v in env.items()) +
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
        """Write the config next to this run's log (``log_dir``).

        mmengine writes ``work_dir/<config name>`` and a test run in the
        work dir of a training run overwrites the training's; here each
        run, training or test, keeps its own in its ``<timestamp>/``
        folder.
        """
        self.cfg.dump(self._config_path())
