"""Config paths (``data/...``, ``checkpoints/...``) that work from any folder.

The configs name their data and weights relative to the repository root
(``data/nyu_depth_v2``, ``checkpoints/v1-5-pruned-emaonly.ckpt``), which is
right only when a tool runs from there. :func:`resolve_config_paths` makes
every such value work from anywhere, in this order:

1. the path relative to the current folder, if it exists (your own
   ``data/`` next to where you run);
2. ``checkpoints/<file>`` in the download cache (``$VPD_CACHE_DIR``,
   default ``~/.cache/vpd/checkpoints``) when ``<file>`` is there and not in
   the repository: ``tools/download.py`` puts files there;
3. the path relative to the repository root (also when it does not exist
   there: the error that follows then names the absolute path that was
   looked for).

The tools (``tools/train.py``, ``tools/test.py``, ``tools/demo.py``) call
it after ``--cfg-options``; each changed value is logged once.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

__all__ = ['resolve_config_paths', 'REPO_RELATIVE_DIRS']

#: First path components that mark a value as relative to the repository.
REPO_RELATIVE_DIRS = ('data', 'checkpoints')


def _resolve(value: str, root: str, cwd: str, cache: str) -> Optional[str]:
    """The replacement of one value, or None to keep it."""
    norm = value[2:] if value.startswith('./') else value
    first = norm.split('/', 1)[0]
    if first not in REPO_RELATIVE_DIRS or '/' not in norm or \
            osp.isabs(norm) or '://' in norm:
        return None
    if osp.exists(osp.join(cwd, norm)):
        return None
    in_root = osp.join(root, norm)
    if first == 'checkpoints' and not osp.exists(in_root):
        cached = osp.join(cache, osp.basename(norm))
        if osp.isfile(cached):
            return cached
    if osp.normpath(cwd) == osp.normpath(root):
        return None
    return in_root


def resolve_config_paths(cfg: Any, root: str,
                         cwd: Optional[str] = None,
                         cache_dir: Optional[str] = None,
                         log: bool = True) -> List[Tuple[str, str]]:
    """Rewrite the config's repository-relative paths in place.

    Every string value (at any depth of dicts and lists) whose first path
    component is ``data`` or ``checkpoints`` is looked up as described in
    the module docstring.

    Args:
        cfg (Config | dict): The config, modified in place.
        root (str): The repository root (the folder with ``configs/``).
        cwd (str, optional): The folder relative paths are read from.
            Defaults to the current folder.
        cache_dir (str, optional): The download cache. Defaults to
            :func:`vpd.utils.model_zoo.default_cache_dir`.
        log (bool): Log each change (mmengine's current logger).
            Defaults to True.

    Returns:
        list[tuple[str, str]]: The distinct ``(old, new)`` changes.
    """
    from vpd.utils.model_zoo import default_cache_dir
    root = osp.abspath(root)
    cwd = osp.abspath(cwd or os.getcwd())
    cache = osp.abspath(cache_dir or default_cache_dir())
    changes: Dict[str, str] = {}

    from mmengine.config import Config

    def walk(node: Any) -> None:
        if isinstance(node, (dict, Config)):
            items = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            return
        for key, value in items:
            if isinstance(value, str):
                new = _resolve(value, root, cwd, cache)
                if new is not None:
                    node[key] = new
                    changes[value] = new
            else:
                walk(value)

    walk(cfg)
    if log and changes:
        from mmengine.logging import print_log
        for old, new in changes.items():
            why = ('found in the download cache'
                   if new.startswith(cache + os.sep) else
                   f'not in the current folder {cwd}: read from the '
                   'repository root')
            print_log(f'config path "{old}" -> "{new}" ({why})',
                      logger='current', level=logging.INFO)
    return list(changes.items())
