"""The short console start-up shared by the project's runners."""
from __future__ import annotations

import logging
import os.path as osp

from mmengine.dist import master_only

# Start-up blocks that go to the log file only (unless ``log_config=True``):
# the environment (about 30 lines) and mmengine's hook order (about 60).
FILE_ONLY_PREFIXES = ('Hooks will be executed in the following order',
                      '\n' + '-' * 60 + '\nSystem environment')


class _FileOnly(logging.Filter):
    """Keeps the start-up blocks above off a console handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(FILE_ONLY_PREFIXES)


class QuietStartupMixin:
    """Mixin of :class:`VPDRunner` and :class:`VPDFlexibleRunner`.

    mmengine logs the full config (a few hundred lines for these models),
    the environment and the hook-priority table to the console at start-up
    and writes the config to ``work_dir``. With this mixin the config is
    written next to the run's log, ``<work_dir>/<timestamp>/<config
    name>`` (a test run in a training's work dir no longer overwrites the
    training's), the environment and hook table go to the log file only
    (a ``logging.Filter`` on the console handlers, the standard library's
    extension point), and the console gets one line saying where they are.
    ``log_config=True`` in the config (``--cfg-options log_config=True``)
    prints everything as mmengine would. The runner calls
    :meth:`_log_quiet_env` from its ``_log_env``.
    """

    def _log_quiet_env(self, system_env: dict, runtime_env: dict) -> None:
        """Log the environment to the file and one line to the console.

        Args:
            system_env (dict): mmengine's ``collect_env()``.
            runtime_env (dict): The runner's runtime environment.
        """
        for handler in self.logger.handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.addFilter(_FileOnly())
        dash_line = '-' * 60
        self.logger.info(
            '\n' + dash_line + '\nSystem environment:\n    ' +
            '\n    '.join(f'{k}: {v}' for k, v in system_env.items()) +
            '\n\nRuntime environment:\n    ' +
            '\n    '.join(f'{k}: {v}' for k, v in runtime_env.items()) +
            '\n' + dash_line)
        self.logger.info(f'Config: written to {self._config_path()} '
                         '(environment and hook order: in the log file; '
                         '--cfg-options log_config=True prints them here)')

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
