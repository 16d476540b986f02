"""Route mmengine's checkpoint I/O through :mod:`vpd.utils.checkpoint`.

Applied once, by importing :mod:`vpd.engine` (``register_all_modules`` does),
through mmengine's public extension points only; nothing installed is edited
and no class is patched:

Loading (``CheckpointLoader.register_scheme(..., force=True)``)
    * ``''`` - every local path (relative, absolute, ``~``): this is what
      ``Runner.resume``, ``load_from``, ``init_cfg=dict(type='Pretrained')``
      and ``CheckpointHook`` use. mmengine's own loader calls ``torch.load``
      with torch's default, which refuses mmengine's own checkpoints on
      torch >= 2.6.
    * ``http://``, ``https://`` and the model-zoo names that resolve to URLs
      (``torchvision://``, ``modelzoo://``, ``open-mmlab://``,
      ``openmmlab://``, ``mmcls://``): mmengine loads these through
      ``torch.hub.load_state_dict_from_url``, whose default is
      ``weights_only=False`` - a downloaded file could run code. Here they
      are downloaded with :func:`vpd.utils.download.download_file` into
      torch's hub cache (``<torch hub dir>/checkpoints``, as mmengine does)
      and opened with :func:`load_checkpoint_file`.

Saving (``mmengine.fileio.register_backend('local', ..., force=True)``)
    ``Runner.save_checkpoint`` and ``CheckpointHook`` call
    ``mmengine.runner.checkpoint.save_checkpoint``, which ``torch.save``-s
    into memory and hands the bytes to the file backend of the path
    (``get_file_backend(path).put``; the ``'local'`` backend, prefix ``''``,
    for local paths; ``FileClient``'s ``'disk'`` backend when the deprecated
    ``file_client_args`` is used). :class:`AtomicLocalBackend` and
    :class:`AtomicHardDiskBackend` write those bytes through a temp file,
    fsync and ``os.replace``.

Backends created with ``get_file_backend(..., enable_singleton=True)`` before
the import keep their class; checkpoint saving never uses singletons.

Work-dir bookkeeping (used by :class:`vpd.engine.hooks.CheckpointHook`)
    :func:`write_last_checkpoint` writes ``<work_dir>/last_checkpoint``
    atomically; :func:`repair_last_checkpoint` points an empty, dangling or
    missing ``last_checkpoint`` at the newest complete checkpoint;
    :func:`remove_stale_temp_files` deletes the temp files a killed save
    left behind.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
import re
import urllib.parse
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from mmengine.fileio import FileClient, LocalBackend, register_backend
from mmengine.fileio.file_client import HardDiskBackend
from mmengine.runner.checkpoint import (CheckpointLoader,
                                        get_deprecated_model_names,
                                        get_external_models, get_mmcls_models,
                                        get_torchvision_models)

from vpd.utils.checkpoint import atomic_write_bytes, load_checkpoint_file
from vpd.utils.download import download_file

__all__ = [
    'AtomicLocalBackend', 'AtomicHardDiskBackend', 'install_checkpoint_io',
    'load_from_local', 'load_from_http', 'load_from_torchvision',
    'load_from_openmmlab', 'load_from_mmcls', 'hub_checkpoint_dir',
    'is_installed', 'is_complete_checkpoint', 'newest_complete_checkpoint',
    'read_last_checkpoint', 'write_last_checkpoint', 'repair_last_checkpoint',
    'remove_stale_temp_files', 'TEMP_FILE_PATTERN', 'resume_checkpoint'
]

MapLocation = Union[str, Callable, Dict[str, str], None]


# ---------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with an atomic :meth:`put`."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` through temp file + fsync + rename.

        Args:
            obj (bytes): Data to be written.
            filepath (str | Path): Destination; folders are created.
        """
        atomic_write_bytes(obj, filepath)


class AtomicHardDiskBackend(HardDiskBackend):
    """``FileClient``'s deprecated ``'disk'`` backend, with an atomic put."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` through temp file + fsync + rename.

        Args:
            obj (bytes): Data to be written.
            filepath (str | Path): Destination; folders are created.
        """
        atomic_write_bytes(obj, filepath)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def load_from_local(filename: str,
                    map_location: MapLocation = None) -> Dict[str, Any]:
    """Load a local checkpoint safely (mmengine's ``''`` scheme).

    Args:
        filename (str): Local path; ``~`` is expanded as mmengine does.
        map_location (str | callable | dict, optional): As in
            ``torch.load``.

    Returns:
        dict: The checkpoint.
    """
    return load_checkpoint_file(osp.expanduser(filename), map_location)


def hub_checkpoint_dir() -> str:
    """Where URL checkpoints are cached: ``<torch hub dir>/checkpoints``."""
    import torch.hub
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def _download_on_local_rank0(url: str, dest: str) -> str:
    """Download once per node; the other ranks wait, then use the file."""
    from mmengine.dist import get_dist_info, get_local_rank
    _, world_size = get_dist_info()
    if world_size > 1:
        import torch.distributed as dist
        if get_local_rank() == 0:
            path = download_file(url, dest)
            dist.barrier()
            return path
        dist.barrier()
    return download_file(url, dest)


def load_from_http(filename: str,
                   map_location: MapLocation = None,
                   model_dir: Optional[str] = None) -> Dict[str, Any]:
    """Download a URL checkpoint (once) and load it safely.

    Args:
        filename (str): ``http(s)://`` URL.
        map_location (str | callable | dict, optional): As in
            ``torch.load``.
        model_dir (str, optional): Cache folder. Defaults to
            :func:`hub_checkpoint_dir`.

    Returns:
        dict: The checkpoint.
    """
    name = osp.basename(urllib.parse.urlparse(filename).path)
    if not name:
        raise ValueError(f'Cannot tell a file name from the URL {filename!r}')
    dest = osp.join(model_dir or hub_checkpoint_dir(), name)
    path = _download_on_local_rank0(filename, dest)
    return load_checkpoint_file(path, map_location)


def load_from_torchvision(filename: str,
                          map_location: MapLocation = None) -> Dict[str, Any]:
    """``torchvision://NAME`` / ``modelzoo://NAME``, loaded safely.

    Args:
        filename (str): The prefixed model name.
        map_location (str | callable | dict, optional): As in
            ``torch.load``.

    Returns:
        dict: The checkpoint.
    """
    name = filename.split('://', 1)[1]
    urls = get_torchvision_models()
    if name not in urls:
        raise KeyError(f'{filename}: unknown torchvision model "{name}"')
    return load_from_http(urls[name], map_location)


def load_from_openmmlab(filename: str,
                        map_location: MapLocation = None) -> Dict[str, Any]:
    """``open-mmlab://NAME`` / ``openmmlab://NAME``, loaded safely.

    Names map to URLs (or to files under the mmengine home) through
    mmengine's own model tables, deprecated names included.

    Args:
        filename (str): The prefixed model name.
        map_location (str | callable | dict, optional): As in
            ``torch.load``.

    Returns:
        dict: The checkpoint.
    """
    from mmengine.runner.checkpoint import _get_mmengine_home
    name = filename.split('://', 1)[1]
    name = get_deprecated_model_names().get(name, name)
    urls = get_external_models()
    if name not in urls:
        raise KeyError(f'{filename}: unknown OpenMMLab model "{name}"')
    url = urls[name]
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location)
    return load_checkpoint_file(osp.join(_get_mmengine_home(), url),
                                map_location)


def load_from_mmcls(filename: str,
                    map_location: MapLocation = None) -> Dict[str, Any]:
    """``mmcls://NAME``, loaded safely, keeping only the backbone weights.

    Like mmengine, returns ``{'state_dict': ...}`` with the ``backbone.``
    prefix removed and every other key dropped.

    Args:
        filename (str): The prefixed model name.
        map_location (str | callable | dict, optional): As in
            ``torch.load``.

    Returns:
        dict: ``{'state_dict': OrderedDict}``.
    """
    name = filename[len('mmcls://'):]
    urls = get_mmcls_models()
    if name not in urls:
        raise KeyError(f'{filename}: unknown mmcls model "{name}"')
    checkpoint = load_from_http(urls[name], map_location)
    weights = checkpoint.get('state_dict', checkpoint)
    prefix = 'backbone.'
    backbone = OrderedDict(
        (key[len(prefix):], value) for key, value in weights.items()
        if key.startswith(prefix))
    return {'state_dict': backbone}


_SCHEMES = (
    ('', load_from_local),
    (('http://', 'https://'), load_from_http),
    (('torchvision://', 'modelzoo://'), load_from_torchvision),
    (('open-mmlab://', 'openmmlab://'), load_from_openmmlab),
    ('mmcls://', load_from_mmcls),
)


def install_checkpoint_io() -> None:
    """Register vpd's safe loaders and atomic backends with mmengine.

    Idempotent; called by ``import vpd.engine``.
    """
    for prefixes, loader in _SCHEMES:
        CheckpointLoader.register_scheme(prefixes, loader, force=True)
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    FileClient.register_backend('disk', AtomicHardDiskBackend, force=True)


def is_installed() -> bool:
    """Whether :func:`install_checkpoint_io` is in effect."""
    from mmengine.fileio.backends import backends, prefix_to_backends
    return (CheckpointLoader._get_checkpoint_loader('x.pth') is load_from_local
            and backends.get('local') is AtomicLocalBackend
            and prefix_to_backends.get('') is AtomicLocalBackend)


# ---------------------------------------------------------------------------
# Work-dir bookkeeping: last_checkpoint, complete checkpoints, temp files
# ---------------------------------------------------------------------------
#: Name of the temp files of :func:`vpd.utils.checkpoint.atomic_write_bytes`:
#: ``.<final name>.<pid>.<12 hex digits>.tmp``.
TEMP_FILE_PATTERN = re.compile(
    r'^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{12}\.tmp$')
LAST_CHECKPOINT = 'last_checkpoint'


def _log(message: str, level: int = logging.INFO) -> None:
    from mmengine.logging import print_log
    print_log(message, logger='current', level=level)


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a checkpoint file that was written completely.

    Cheap (no tensor is read): a torch zip checkpoint must have a readable
    central directory (it is written last, so a truncated file has none) and
    a ``data.pkl`` record; a ``.safetensors`` file must be as long as its
    header says; a legacy (non-zip) torch file only needs to be non-empty.

    Args:
        path (str): A file path.

    Returns:
        bool: True for a complete checkpoint.
    """
    try:
        if not osp.isfile(path) or osp.getsize(path) == 0:
            return False
        if path.lower().endswith('.safetensors'):
            import json
            import struct
            with open(path, 'rb') as f:
                (length, ) = struct.unpack('<Q', f.read(8))
                header = json.loads(f.read(length))
            end = max((v['data_offsets'][1] for k, v in header.items()
                       if k != '__metadata__'), default=0)
            return osp.getsize(path) >= 8 + length + end
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return any(n.endswith('data.pkl') for n in zf.namelist())
        with open(path, 'rb') as f:
            head = f.read(2)
        return head[:1] == b'\x80'  # a pickle (torch's legacy format)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return False


def _checkpoint_steps(folder: str, filename_tmpl: str) -> List[tuple]:
    """``(step, path)`` of files named like ``filename_tmpl``, newest first."""
    prefix, _, suffix = filename_tmpl.partition('{}')
    pattern = re.compile('^' + re.escape(prefix) + r'(\d+)' +
                         re.escape(suffix) + '$')
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = [(int(m.group(1)), osp.join(folder, name)) for name in names
             if (m := pattern.match(name))]
    return sorted(found, reverse=True)


def newest_complete_checkpoint(
        folder: str, filename_tmpl: str = 'iter_{}.pth') -> Optional[str]:
    """The complete checkpoint of ``folder`` with the highest step.

    Args:
        folder (str): Where to look.
        filename_tmpl (str): Checkpoint name template (``'iter_{}.pth'``
            or ``'epoch_{}.pth'``). Both are tried when the template's files
            are absent.

    Returns:
        str | None: Its path, or None when there is none.
    """
    templates = [filename_tmpl] + [
        t for t in ('iter_{}.pth', 'epoch_{}.pth') if t != filename_tmpl
    ]
    for tmpl in templates:
        for _, path in _checkpoint_steps(folder, tmpl):
            if is_complete_checkpoint(path):
                return path
    return None


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The path written in ``<work_dir>/last_checkpoint``.

    Read as bytes and decoded with the file-system encoding, so a work dir
    whose name is not UTF-8 works too.

    Args:
        work_dir (str): The work dir.

    Returns:
        str | None: The path ('' for an empty file), None without the file.
    """
    pointer = osp.join(work_dir, LAST_CHECKPOINT)
    try:
        with open(pointer, 'rb') as f:
            return os.fsdecode(f.read().strip())
    except FileNotFoundError:
        return None


def write_last_checkpoint(work_dir: str, checkpoint: str) -> None:
    """Write ``<work_dir>/last_checkpoint`` atomically (temp + rename).

    Args:
        work_dir (str): The work dir.
        checkpoint (str): The path to record (any bytes the file system
            allows, through ``os.fsencode``).

    Raises:
        OSError: It could not be written; the message names the file.
    """
    atomic_write_bytes(os.fsencode(checkpoint),
                       osp.join(work_dir, LAST_CHECKPOINT))


def repair_last_checkpoint(work_dir: str, checkpoint_dir: Optional[str] = None,
                           filename_tmpl: str = 'iter_{}.pth'
                           ) -> Optional[str]:
    """Make ``last_checkpoint`` name a complete checkpoint, if there is one.

    A ``last_checkpoint`` that is empty, or names a missing or incomplete
    file, or is missing while checkpoints exist, is rewritten (atomically)
    to the newest complete checkpoint of ``checkpoint_dir`` (and of the
    folder it named), with a warning; with no complete checkpoint at all a
    bad ``last_checkpoint`` is removed (``--resume`` then starts from
    scratch, as mmengine does without one). A valid one is left alone.

    Args:
        work_dir (str): The work dir holding ``last_checkpoint``.
        checkpoint_dir (str, optional): Where the checkpoints are. Defaults
            to ``work_dir``.
        filename_tmpl (str): Checkpoint name template.

    Returns:
        str | None: The checkpoint ``last_checkpoint`` names afterwards.
    """
    checkpoint_dir = checkpoint_dir or work_dir
    pointer = osp.join(work_dir, LAST_CHECKPOINT)
    named = read_last_checkpoint(work_dir)
    if named and is_complete_checkpoint(named):
        return named
    folders = [checkpoint_dir]
    if named and osp.isdir(osp.dirname(named)):
        folders.append(osp.dirname(named))
    candidates = [p for p in (newest_complete_checkpoint(d, filename_tmpl)
                              for d in folders) if p]
    newest = max(candidates, key=osp.getmtime) if candidates else None
    if named is None:
        problem = None if newest is None else 'is missing'
    elif not named:
        problem = 'is empty'
    elif not osp.exists(named):
        problem = f'names "{named}", which does not exist'
    else:
        problem = f'names "{named}", which is not a complete checkpoint'
    if problem is None:
        return None
    if newest is not None:
        _log(f'{pointer} {problem}; it now names the newest complete '
             f'checkpoint, {newest}.', logging.WARNING)
        write_last_checkpoint(work_dir, newest)
        return newest
    _log(f'{pointer} {problem} and there is no complete checkpoint in '
         f'{checkpoint_dir}; removed it (training starts from scratch).',
         logging.WARNING)
    os.remove(pointer)
    return None


def resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` should continue from, or None.

    ``last_checkpoint`` read as bytes (so a work dir whose name is not UTF-8
    works, where mmengine's text-mode read fails), repaired first when it is
    empty, dangling or missing (:func:`repair_last_checkpoint`; only by
    the process of rank 0 when launched distributed, the others read).

    Args:
        work_dir (str): The work dir.

    Returns:
        str | None: A complete checkpoint, or None (start from scratch).
    """
    if not osp.isdir(work_dir):
        return None
    if os.environ.get('RANK', '0') == '0':  # (called before dist init)
        return repair_last_checkpoint(work_dir)
    named = read_last_checkpoint(work_dir)  # other ranks only read
    if named and is_complete_checkpoint(named):
        return named
    return newest_complete_checkpoint(work_dir)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own earlier, failed save: nothing writes it now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temp_files(folder: str) -> List[str]:
    """Delete temp files of interrupted atomic writes in ``folder``.

    Only files named like :data:`TEMP_FILE_PATTERN` whose writing process is
    gone are removed (a live process may still be writing its own).

    Args:
        folder (str): A checkpoint or work dir.

    Returns:
        list[str]: The removed files.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in sorted(names):
        m = TEMP_FILE_PATTERN.match(name)
        if m is None or _pid_alive(int(m.group('pid'))):
            continue
        path = osp.join(folder, name)
        try:
            os.remove(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    if removed:
        _log(f'Removed {len(removed)} temporary file(s) left by an '
             f'interrupted save in {folder}: '
             f'{", ".join(osp.basename(p) for p in removed)}')
    return removed
