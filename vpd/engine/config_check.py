"""Catch config keys that nothing reads and ``--cfg-options`` that do not fit.

mmengine accepts any top-level key in a config file and any
``--cfg-options`` key: ``modle = dict(...)`` or ``modle.decode_head.channels
=64`` is silently ignored, ``train_cfg.max_iters=abc`` fails deep inside the
training loop, and ``data_root=/x`` changes a variable that the file has
already substituted. Hand-written because mmengine has no schema for the
keys its ``Runner`` reads.

* :func:`check_config_keys`: a top-level key of the config that neither the
  runner or the tools read (:data:`READ_KEYS`) nor any file of the config
  (the file and its ``_base_`` files) uses as a variable is an error when it
  is close to a key that is read (``modle`` -> ``model``; ``*_pipeline``
  variables excepted). Other unread keys pass silently: they are the
  variables of a config that mmengine dumped into a work dir, or helpers.
* :func:`merge_cfg_options`: before merging, every key must name something
  read (a new top-level key must be in :data:`READ_KEYS`; overriding a
  config variable such as ``data_root`` is refused because the file already
  used it), and a value replacing a number or a bool must be one.

Errors are ``ConfigKeyError`` (a ``KeyError``) and ``ConfigValueError`` (a
``ValueError``) whose messages name the key, the value and what was
expected; the tools print them as one line (:func:`vpd.utils.cli.run_tool`).
"""
from __future__ import annotations

import ast
import difflib
import os.path as osp
import re
from typing import Any, Dict, Iterable, List, Optional, Set

from mmengine.config import Config

__all__ = ['READ_KEYS', 'ConfigKeyError', 'ConfigValueError',
           'check_config_keys', 'merge_cfg_options', 'load_config',
           'config_variable_names']

#: Top-level keys read after a config is loaded: by mmengine's
#: ``Runner.from_cfg`` / ``Runner`` / ``FlexibleRunner``, by mmengine's
#: ``Config`` itself, and by this project's tools and APIs (``tta_model``,
#: ``tta_pipeline``, ``test_pipeline``, ``runner_type``). A tool that reads
#: a new top-level key adds it here.
READ_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
    'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'experiment_name',
    'model_wrapper_cfg', 'compile', 'activation_checkpointing',
    'efficient_conv_bn_eval', 'runner_type', 'strategy', 'cfg',
    'tta_model', 'tta_pipeline', 'test_pipeline'
})


class ConfigKeyError(KeyError):
    """A config or ``--cfg-options`` key that nothing reads."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class ConfigValueError(ValueError):
    """A ``--cfg-options`` value of the wrong type."""


def _closest(key: str, candidates: Iterable[str]) -> Optional[str]:
    found = difflib.get_close_matches(key, sorted(candidates), n=1,
                                      cutoff=0.75)
    return found[0] if found else None


# ---------------------------------------------------------------------------
# Config files: which names they use
# ---------------------------------------------------------------------------
def _base_files(filename: str, tree: ast.Module) -> List[str]:
    """The ``_base_`` files a config file names, as absolute paths."""
    out: List[str] = []
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        if not any(isinstance(t, ast.Name) and t.id == '_base_'
                   for t in node.targets):
            continue
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            continue
        for base in [value] if isinstance(value, str) else list(value):
            if isinstance(base, str) and '::' not in base:
                out.append(osp.normpath(
                    osp.join(osp.dirname(filename), base)))
    return out


def config_variable_names(filename: str) -> Set[str]:
    """Names a config file and its ``_base_`` files use as variables.

    Every name read (``ast.Name`` in load context) in any ``.py`` file of
    the chain, and every ``{{_base_.name}}`` reference.

    Args:
        filename (str): The config file.

    Returns:
        set[str]: The names.
    """
    names: Set[str] = set()
    todo, seen = [osp.abspath(filename)], set()
    while todo:
        path = todo.pop()
        if path in seen or not path.endswith('.py') or not osp.isfile(path):
            continue
        seen.add(path)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        names.update(re.findall(r'\{\{\s*_base_\.(\w+)', text))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        names.update(node.id for node in ast.walk(tree)
                     if isinstance(node, ast.Name)
                     and isinstance(node.ctx, ast.Load))
        todo.extend(_base_files(path, tree))
    return names


def check_config_keys(cfg: Config, filename: Optional[str] = None) -> None:
    """Refuse a top-level key that nothing reads and looks like a typo.

    Args:
        cfg (Config): The loaded config.
        filename (str, optional): Its file. Defaults to ``cfg.filename``.

    Raises:
        ConfigKeyError: A key nothing reads is close to one that is read
            (the message names both and the file).
    """
    filename = filename or cfg.filename
    if not filename:
        return
    used = config_variable_names(filename)
    for key in cfg.keys():
        if key.startswith('_') or key in READ_KEYS or key in used:
            continue
        closest = _closest(key, READ_KEYS)
        # train_pipeline, val_pipeline ... are conventional variables (a
        # dumped config keeps them although nothing reads them any more)
        if closest is not None and not key.endswith('_pipeline'):
            raise ConfigKeyError(
                f'Config "{filename}": top-level key "{key}" is not read by '
                f'anything (closest known key: "{closest}"); a typo?')


# ---------------------------------------------------------------------------
# --cfg-options
# ---------------------------------------------------------------------------
_MISSING = object()


def _lookup(cfg: Any, parts: List[str]) -> Any:
    node = cfg
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.lstrip('-').isdigit() \
                and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _key_paths(node: Any, leaf: str, prefix: str = '') -> List[str]:
    """Dotted paths of every key named ``leaf`` inside ``node``."""
    out: List[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            path = f'{prefix}.{k}' if prefix else str(k)
            if k == leaf:
                out.append(path)
            out += _key_paths(v, leaf, path)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            out += _key_paths(v, leaf, f'{prefix}.{i}')
    return out


def _type_problem(old: Any, new: Any) -> Optional[str]:
    """What ``new`` should have been to replace ``old``, or None if fine
    (None may replace anything: it switches an option off)."""
    if new is None:
        return None
    if isinstance(old, bool):
        return None if isinstance(new, bool) else 'a bool (True/False)'
    if isinstance(old, int):
        ok = isinstance(new, int) and not isinstance(new, bool)
        return None if ok else 'an int'
    if isinstance(old, float):
        ok = isinstance(new, (int, float)) and not isinstance(new, bool)
        return None if ok else 'a number'
    return None


def merge_cfg_options(cfg: Config, options: Optional[Dict[str, Any]],
                      source: str = '--cfg-options') -> Config:
    """Check ``KEY=VALUE`` overrides, then merge them into ``cfg``.

    Args:
        cfg (Config): The config (changed in place).
        options (dict, optional): Parsed overrides, e.g. from
            :class:`vpd.utils.cli.CfgOptionsAction`.
        source (str): How the options are called in messages.

    Returns:
        Config: ``cfg``.

    Raises:
        ConfigKeyError: A key names a top-level key nothing reads.
        ConfigValueError: A value does not fit the type it replaces.
    """
    if not options:
        return cfg
    data = cfg.to_dict()
    for key, value in options.items():
        parts = str(key).split('.')
        top = parts[0]
        if top not in READ_KEYS:
            if top in cfg:
                uses = [p for p in _key_paths(data, top)
                        if '.' in p][:3]
                hint = (f'; set where it is used instead, e.g. '
                        f'{", ".join(uses)}' if uses else '')
                raise ConfigKeyError(
                    f'{source} {key}={value!r}: "{top}" is a variable of the '
                    'config file, already substituted where the file uses '
                    f'it, so changing it changes nothing{hint}.')
            closest = _closest(top, READ_KEYS | set(cfg.keys()))
            raise ConfigKeyError(
                f'{source} {key}={value!r}: nothing reads the top-level key '
                f'"{top}"' + (f' (closest known key: "{closest}")'
                              if closest else '') + '.')
        old = _lookup(data, parts)
        if old is not _MISSING:
            expected = _type_problem(old, value)
            if expected is not None:
                raise ConfigValueError(
                    f'{source} {key}={value!r}: expected {expected} (the '
                    f'config has {old!r}), got {value!r}.')
    cfg.merge_from_dict(options)
    return cfg


def load_config(filename: str,
                cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """``Config.fromfile`` + :func:`check_config_keys` +
    :func:`merge_cfg_options`.

    Args:
        filename (str): The config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.

    Returns:
        Config: The checked config.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        ConfigKeyError: See :func:`check_config_keys` and
            :func:`merge_cfg_options`.
        ConfigValueError: See :func:`merge_cfg_options`.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Config file "{filename}" not found')
    cfg = Config.fromfile(filename)
    check_config_keys(cfg, filename)
    return merge_cfg_options(cfg, cfg_options)
