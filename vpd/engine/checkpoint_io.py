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
"""
from __future__ import annotations

import os.path as osp
import urllib.parse
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

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
    'is_installed'
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
