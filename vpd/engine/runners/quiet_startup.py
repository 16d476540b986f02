"""The short console start-up shared by the project's runners."""
from __future__ import annotations

import logging
import os.path as osp

from mmengine.config import Config
from mmengine.dist import master_only

# Start-up blocks that go to the log file only (unless ``log_config=True``):
# the environment (about 30 lines) and mmengine's hook order (about 60).
FILE_ONLY_PREFIXES = ('Hooks will be executed in the following order',
                      '\n' + '-' * 60 + '\nSystem environment')


class _TextCachedConfig(Config):
    """A ``Config`` that formats its text once per content.

    mmengine's runner asks for ``cfg.pretty_text`` (a yapf pass over the
    whole config, ~0.1-0.3 s on a CPU) when it writes the config, for the
    visualizer's copy, in ``RuntimeInfoHook`` and in every checkpoint's
    meta. The text is kept with the ``repr`` of the config it was made
    from and made again whenever that changes, so a config edited after
    start-up is still written as it is.
    """

    @property
    def pretty_text(self) -> str:
        """The formatted config text (``Config.pretty_text``)."""
        key = (repr(self._cfg_dict), self._format_python_code)
        cached = self.__dict__.get('_pretty_text_cache')
        if cached is not None and cached[0] == key:
            return cached[1]
        text = super().pretty_text
        # Config.__setattr__ writes config keys: set the attribute itself
        object.__setattr__(self, '_pretty_text_cache', (key, text))
        return text


def text_cached(cfg):
    """``cfg`` as a :class:`_TextCachedConfig` (other values unchanged).

    Args:
        cfg (Config | dict | None): A runner's ``cfg`` argument.

    Returns:
        The same content; a ``Config`` becomes a copy of class
        :class:`_TextCachedConfig` (the runner deep-copies it, which keeps
        the class).
    """
    if isinstance(cfg, Config) and not isinstance(cfg, _TextCachedConfig):
        # as Config.__copy__ (Config.__setattr__ would write a config key)
        other = _TextCachedConfig.__new__(_TextCachedConfig)
        other.__dict__.update(cfg.__dict__)
        object.__setattr__(other, '_cfg_dict', cfg._cfg_dict.copy())
        return other
    return cfg


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

    def __init__(self, *args, **kwargs) -> None:
        if 'cfg' in kwargs:
            kwargs['cfg'] = text_cached(kwargs['cfg'])
        super().__init__(*args, **kwargs)

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
