"""Safe checkpoint I/O: the one place where this project opens or writes one.

Why this is hand-written
------------------------
Checkpoints in ``.pth`` / ``.ckpt`` form are pickles, and unpickling runs
whatever code the file names.  torch >= 2.6 defaults ``torch.load`` to
``weights_only=True``, which only rebuilds tensors and plain containers, but:

* mmengine 0.10.7 has no allow-list loader.  Its local loader calls
  ``torch.load(filename, map_location)`` with the default, so resuming its own
  checkpoints fails (they pickle ``HistoryBuffer`` and numpy arrays), and its
  URL loader goes through ``torch.hub.load_state_dict_from_url``, whose
  default is ``weights_only=False``: any downloaded pickle can run code.
* The usual fixes (``weights_only=False``,
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``) make every file executable, including
  downloaded ones.

:func:`load_checkpoint_file` always loads with ``weights_only=True`` plus the
short, explicit allow-list :data:`SAFE_GLOBALS`, which covers exactly what
mmengine and the official VPD / Meta Prompts / Stable Diffusion releases
contain.  A file that needs anything else is refused with
:class:`UnsafeCheckpointError`, naming the file and the refused global.
``vpd.engine`` routes mmengine's loading (``load_from``, ``resume``,
``init_cfg=dict(type='Pretrained')``) through it and makes mmengine's
checkpoint saving atomic (see :mod:`vpd.engine.checkpoint_io`).

Every floating-point tensor of a loaded file is checked to be finite: a
checkpoint written after training diverged (NaN/Inf weights) is refused with
:class:`NonFiniteTensorError`, naming the file and the tensor, instead of
silently producing NaN predictions later (``allow_non_finite=True`` opens it
anyway, for inspection).

:func:`save_checkpoint_atomic` writes to a temporary file in the destination
folder, flushes and fsyncs it, then renames it over the destination, so a
crash or a full disk never leaves a truncated checkpoint where a good one was.
A write that fails (full disk, no permission) raises an ``OSError`` naming the
destination. The temporary file is created with the mode a plain ``open``
would give (``0o666 & ~umask``, i.e. 0644 under the usual umask), not
``mkstemp``'s 0600.

:func:`restricted_pickle_load` opens plain pickles (containers and scalars
only, e.g. the REFER ``refs(*).p`` annotation files) with an unpickler that
refuses every Python global, so nothing from the file can run.
"""
from __future__ import annotations

import _compat_pickle
import argparse
import codecs
import collections
import errno
import inspect
import io
import os
import os.path as osp
import pickle
import re
import uuid
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

try:  # numpy >= 2
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _np_multiarray

__all__ = [
    'CheckpointError', 'UnsafeCheckpointError', 'NonFiniteTensorError',
    'SAFE_GLOBALS', 'load_checkpoint_file', 'peek_checkpoint',
    'save_checkpoint_atomic', 'atomic_write_bytes', 'non_finite_tensors',
    'restricted_pickle_load', 'PLAIN_PICKLE_GLOBALS', 'is_torchscript_archive',
    'all_finite'
]

PathLike = Union[str, os.PathLike]
MapLocation = Union[str, torch.device, Callable, Dict[str, str], None]


class CheckpointError(RuntimeError):
    """A file could not be read as a checkpoint (corrupt or wrong format)."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint was refused because it needs a non-allow-listed global.

    Attributes:
        path (str): The refused file.
        refused (str): The Python global (or call) that was refused.
    """

    def __init__(self, message: str, path: str = '', refused: str = ''):
        super().__init__(message)
        self.path = path
        self.refused = refused


class NonFiniteTensorError(CheckpointError):
    """Tensors with NaN/Inf values were found in a file being loaded or in
    weights about to be saved.

    Attributes:
        path (str): The file.
        names (list[str]): The non-finite tensors (dotted key paths).
    """

    def __init__(self, message: str, path: str = '',
                 names: Optional[List[str]] = None):
        super().__init__(message)
        self.path = path
        self.names = list(names or [])


# ---------------------------------------------------------------------------
# The allow-list
# ---------------------------------------------------------------------------
_REFUSAL_TAG = 'vpd-refused:'


def _history_buffer():
    from mmengine.logging import HistoryBuffer
    return HistoryBuffer


def _history_buffer_method(obj: Any, name: Any) -> Callable:
    """Stand-in for ``builtins.getattr`` while unpickling.

    ``HistoryBuffer.__getstate__`` stores its statistics methods, which
    pickle as ``getattr(HistoryBuffer, 'mean')`` and the like.  A general
    ``getattr`` would let a file reach any attribute of any allow-listed
    object, so only public functions defined on ``HistoryBuffer`` itself are
    handed out; anything else is refused.

    Args:
        obj (Any): The object whose attribute the pickle asks for.
        name (Any): The attribute name.

    Returns:
        Callable: The requested ``HistoryBuffer`` method.
    """
    cls = _history_buffer()
    if obj is cls and isinstance(name, str) and not name.startswith('_'):
        attr = cls.__dict__.get(name)
        if inspect.isfunction(attr):
            return attr
    raise pickle.UnpicklingError(
        f'{_REFUSAL_TAG} builtins.getattr({getattr(obj, "__name__", obj)!r}, '
        f'{name!r}) (only getattr(HistoryBuffer, <statistics method>) is '
        'allowed)')


def _safe_globals() -> List[Tuple[Any, str]]:
    """Build :data:`SAFE_GLOBALS` (see there for why each entry exists)."""
    return [
        # Official VPD referring-segmentation checkpoints store the training
        # arguments: {'model', 'optimizer', 'epoch', 'args', 'lr_scheduler'}.
        (argparse.Namespace, 'argparse.Namespace'),
        # mmengine checkpoints: message_hub.log_scalars holds HistoryBuffers.
        (_history_buffer(), 'mmengine.logging.history_buffer.HistoryBuffer'),
        # ... whose pickled state names its statistics methods through
        # getattr(HistoryBuffer, 'min' / 'max' / 'current' / 'mean').
        (_history_buffer_method, 'builtins.getattr'),
        # HistoryBuffer stores numpy arrays (and numpy scalars appear in
        # logged values): ndarray.__reduce__ -> _reconstruct(ndarray, shape,
        # dtype) + ndarray.__setstate__; scalars -> scalar(dtype, bytes).
        (np.ndarray, 'numpy.ndarray'),
        (np.dtype, 'numpy.dtype'),
        (_np_multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
        (_np_multiarray.scalar, 'numpy._core.multiarray.scalar'),
        # ... and the same two functions under their numpy < 2 names, used by
        # every checkpoint written with numpy 1.x (older mmengine runs).
        (_np_multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (_np_multiarray.scalar, 'numpy.core.multiarray.scalar'),
    ] + _numpy_dtype_classes()


# Restoring a pickled dtype calls dtype.__setstate__, which torch only allows
# on instances of allow-listed types: each dtype's class is needed (never
# named in the file itself).  Numeric and bool dtypes only.
_NUMPY_DTYPES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
                 'uint32', 'uint64', 'float16', 'float32', 'float64',
                 'complex64', 'complex128')


def _numpy_dtype_classes() -> List[Tuple[Any, str]]:
    out = []
    for name in _NUMPY_DTYPES:
        cls = type(np.dtype(name))
        if cls is not np.dtype:
            out.append((cls, f'{cls.__module__}.{cls.__qualname__}'))
    return out


#: ``(object, pickled name)`` pairs allowed on top of torch's own
#: ``weights_only`` set (tensors, storages, dtypes, ``OrderedDict``,
#: ``Counter``, ``set``, ``bytearray``, ``complex``, ``_codecs.encode``).
SAFE_GLOBALS: List[Tuple[Any, str]] = _safe_globals()
_SAFE_NAMES = sorted({name for _, name in SAFE_GLOBALS})


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def _check_file(path: str) -> None:
    if not osp.exists(path):
        raise FileNotFoundError(
            2, f'Checkpoint file not found: "{path}" (resolved to '
            f'"{osp.abspath(path)}")', path)
    if not osp.isfile(path):
        raise IsADirectoryError(
            21, f'Checkpoint path "{path}" is not a file; expected a '
            '.pth/.ckpt/.bin (torch) or .safetensors file', path)


def _safetensors_device(map_location: MapLocation, path: str) -> str:
    if map_location is None:
        return 'cpu'
    if isinstance(map_location, (str, torch.device)):
        return str(map_location)
    raise TypeError(
        f'map_location for the safetensors file "{path}" must be None, a '
        f'device string or a torch.device, got {type(map_location).__name__}')


def _refused_name(message: str) -> Optional[str]:
    """The refused global/call named in a weights-only unpickling error."""
    patterns = (
        re.escape(_REFUSAL_TAG) + r'\s*(.+?\))',
        r'GLOBAL (\S+) was not an allowed global',
        r'unsupported GLOBAL (\S+) whose module',
        r'reduce for unrecognized function (.+?)(?:\n|$)',
        r'Can only create new object for .*? but got (.+?)(?:\n|$)',
        r'Can only build .*? but got (.+?)(?:\n|$)',
    )
    for pat in patterns:
        m = re.search(pat, message)
        if m:
            return m.group(1).strip()
    return None


def _scan_unsafe_globals(path: str) -> List[str]:
    """Statically list globals the file names that are not allowed."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - best effort, only for the message
        return []
    return sorted(set(found) - set(_SAFE_NAMES))


def non_finite_tensors(obj: Any, prefix: str = '') -> List[Tuple[str, int,
                                                                 int]]:
    """Find floating-point tensors holding NaN or +-Inf.

    Walks dicts, lists and tuples (what checkpoints, state dicts and
    optimizer states are made of); other objects are skipped.

    Args:
        obj (Any): A tensor, or containers of tensors.
        prefix (str): Dotted path of ``obj`` used in the returned names.

    Returns:
        list[tuple[str, int, int]]: ``(dotted name, number of non-finite
        values, number of values)`` of every non-finite tensor, in walk order.
    """
    tensors: List[Tuple[str, torch.Tensor]] = []
    stack: List[Tuple[str, Any]] = [(prefix, obj)]
    while stack:
        name, item = stack.pop()
        if isinstance(item, torch.Tensor):
            if (item.is_floating_point() or item.is_complex()) and \
                    item.numel():
                tensors.append((name or '<tensor>', item))
        elif isinstance(item, dict):
            stack.extend((f'{name}.{k}' if name else str(k), v)
                         for k, v in reversed(list(item.items())))
        elif isinstance(item, (list, tuple)):
            stack.extend((f'{name}.{i}' if name else str(i), v)
                         for i, v in reversed(list(enumerate(item))))
    if all_finite([t for _, t in tensors]):
        return []
    found: List[Tuple[str, int, int]] = []
    for name, item in tensors:
        if not bool(torch.isfinite(item).all()):
            bad = int((~torch.isfinite(item)).sum())
            found.append((name, bad, item.numel()))
    return found


def all_finite(tensors: List[torch.Tensor]) -> bool:
    """Whether every value of ``tensors`` is finite, in one batched pass.

    The max-norm of a tensor is NaN/Inf exactly when the tensor holds a
    NaN/Inf (and never overflows), so one ``torch.nn.utils.get_total_norm``
    (``torch._foreach_norm`` per device and dtype) replaces a check per
    tensor (a checkpoint holds thousands). False means "some value is
    not finite, or this torch has no ``get_total_norm``": the caller then
    checks each tensor.

    Args:
        tensors (list[Tensor]): Non-empty floating-point or complex tensors.

    Returns:
        bool: True if all values are finite.
    """
    total_norm = getattr(torch.nn.utils, 'get_total_norm', None)
    if not tensors:
        return True
    if total_norm is None:
        return False
    with torch.no_grad():
        return bool(torch.isfinite(total_norm(tensors, float('inf'))))


def _refuse_non_finite(obj: Any, path: str) -> None:
    bad = non_finite_tensors(obj)
    if not bad:
        return
    name, count, total = bad[0]
    raise NonFiniteTensorError(
        f'Refused to load "{path}": {len(bad)} tensor(s) hold NaN/Inf values '
        f'(e.g. "{name}": {count} of {total} values), which would make every '
        'prediction NaN. A checkpoint written after training diverged: use '
        'an earlier one; a tensor file (e.g. class embeddings): make it '
        'again. To inspect the file: load_checkpoint_file(path, '
        'allow_non_finite=True).',
        path=path, names=[b[0] for b in bad])


def is_torchscript_archive(path: PathLike) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``).

    Such archives hold code (``code/``, ``constants.pkl``) that
    ``torch.jit.load`` runs; torch itself recognises them by a
    ``constants.pkl`` record, and so does this function (``code/`` too).

    Args:
        path (str | os.PathLike): Any file.

    Returns:
        bool: True for a zip whose records look like TorchScript.
    """
    import zipfile
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n == 'constants.pkl' or n.endswith('/constants.pkl')
               or n.startswith('code/') or '/code/' in n for n in names)


def load_checkpoint_file(path: PathLike,
                         map_location: MapLocation = 'cpu',
                         allow_non_finite: bool = False,
                         mmap: bool = False) -> Dict[str, Any]:
    """Open a checkpoint file safely; never executes code from the file.

    ``.safetensors`` files are read with ``safetensors.torch.load_file`` and
    returned as the plain ``{name: tensor}`` dict they contain (no
    ``'state_dict'`` wrapper is added).  Every other file is read with
    ``torch.load(..., weights_only=True)`` inside
    ``torch.serialization.safe_globals(SAFE_GLOBALS)`` and returned as
    stored (e.g. ``{'meta', 'state_dict', 'optimizer', ...}`` for mmengine,
    ``{'model': ...}`` for official VPD depth).

    Args:
        path (str | os.PathLike): The checkpoint file; ``~`` is expanded.
        map_location (str | torch.device | callable | dict | None): Where
            tensors go, as in ``torch.load``. Defaults to ``'cpu'``; None
            keeps the saved devices (CPU for safetensors). Safetensors files
            accept only None, a device string or a ``torch.device``.
        allow_non_finite (bool): Return files whose tensors hold NaN/Inf
            (for inspection). Defaults to False: such a file is refused.
        mmap (bool): Memory-map the tensors of a torch file instead of
            reading them (``torch.load(mmap=True)``; files in the legacy
            non-zip format are read normally). Defaults to False.

    Returns:
        dict: The loaded object.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is not a file.
        UnsafeCheckpointError: The file needs a global that is not on
            :data:`SAFE_GLOBALS`; it was refused for safety. TorchScript
            archives (which run code when loaded) are refused too.
        NonFiniteTensorError: A floating-point tensor of the file holds
            NaN/Inf and ``allow_non_finite`` is False.
        CheckpointError: The file is not a readable checkpoint.
    """
    path = osp.expanduser(os.fspath(path))
    _check_file(path)

    if path.lower().endswith('.safetensors'):
        device = _safetensors_device(map_location, path)
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            obj = load_file(path, device=device)
        except (SafetensorError, ValueError, OSError) as e:
            raise CheckpointError(
                f'"{path}" is not a readable .safetensors file: {e}') from e
        if not allow_non_finite:
            _refuse_non_finite(obj, path)
        return obj

    if is_torchscript_archive(path):
        raise UnsafeCheckpointError(
            f'Refused to load "{path}" for safety: it is a TorchScript '
            'archive, and loading one runs code stored in the file. Expected '
            'a checkpoint written by torch.save (a state dict) or a '
            '.safetensors file.', path=path, refused='TorchScript archive')
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            try:
                obj = torch.load(path, map_location=map_location,
                                 weights_only=True, mmap=mmap or None)
            except RuntimeError as e:
                if not mmap or 'mmap' not in str(e):
                    raise
                obj = torch.load(path, map_location=map_location,
                                 weights_only=True)  # legacy format
    except pickle.UnpicklingError as e:
        message = str(e)
        refused = _refused_name(message)
        if refused is None and 'Unsupported operand' not in message:
            unsafe = _scan_unsafe_globals(path)
            refused = ', '.join(unsafe) if unsafe else None
        if refused is not None:
            raise UnsafeCheckpointError(
                f'Refused to load checkpoint "{path}" for safety: it needs '
                f'the Python global/call {refused}, which is not on vpd\'s '
                'allow-list (vpd.utils.checkpoint.SAFE_GLOBALS). Unpickling '
                'it could run code from the file. If you trust the file, '
                'convert it once in a separate process to plain tensors '
                '(e.g. re-save its state dict as .safetensors) and load that.',
                path=path, refused=refused) from None
        raise CheckpointError(
            f'"{path}" is not a readable torch checkpoint (expected a file '
            'written by torch.save, or a .safetensors file): '
            f'{message.splitlines()[-1] if message else type(e).__name__}'
        ) from None
    except (FileNotFoundError, PermissionError, IsADirectoryError,
            MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - torch raises many types here
        raise CheckpointError(
            f'"{path}" is not a readable torch checkpoint (expected a file '
            f'written by torch.save, or a .safetensors file): '
            f'{type(e).__name__}: {e}') from e
    if not allow_non_finite:
        _refuse_non_finite(obj, path)
    return obj


def peek_checkpoint(path: PathLike) -> Tuple[Any, Dict[str, str]]:
    """Open a checkpoint without reading its tensor data.

    For looking at key names, shapes and metadata before a model is built
    (e.g. to infer an architecture), as safely as
    :func:`load_checkpoint_file`.

    Args:
        path (str | os.PathLike): The checkpoint file.

    Returns:
        tuple: ``(object, metadata)``. A ``.safetensors`` file gives
        ``{name: tensor on the 'meta' device}`` (shape and dtype, no data)
        and its header metadata; any other file the object
        :func:`load_checkpoint_file` returns with memory-mapped tensors
        (read only when touched) and ``{}``.

    Raises:
        The errors of :func:`load_checkpoint_file`.
    """
    path = osp.expanduser(os.fspath(path))
    _check_file(path)
    if not path.lower().endswith('.safetensors'):
        # shapes only: the finite check runs when the tensors are loaded
        return load_checkpoint_file(path, mmap=True,
                                    allow_non_finite=True), {}
    from safetensors import SafetensorError, safe_open
    dtypes = {'F64': torch.float64, 'F32': torch.float32,
              'F16': torch.float16, 'BF16': torch.bfloat16,
              'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16,
              'I8': torch.int8, 'U8': torch.uint8, 'BOOL': torch.bool}
    try:
        with safe_open(path, framework='pt') as f:
            metadata = dict(f.metadata() or {})
            out = {}
            for key in f.keys():
                part = f.get_slice(key)
                out[key] = torch.empty(
                    part.get_shape(), device='meta',
                    dtype=dtypes.get(part.get_dtype(), torch.float32))
    except (SafetensorError, ValueError, OSError) as e:
        raise CheckpointError(
            f'"{path}" is not a readable .safetensors file: {e}') from e
    return out, metadata


# ---------------------------------------------------------------------------
# Atomic writing
# ---------------------------------------------------------------------------
def _fsync_dir(dirname: str) -> None:
    """Persist a rename on POSIX; a no-op where directories can't be opened."""
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_error(err: BaseException, path: str) -> Optional[OSError]:
    """An ``OSError`` naming ``path`` for a failed write, or None.

    ``OSError`` (full disk, quota, read-only file system, no permission) and
    torch's ``RuntimeError('... file write failed')`` of a failed
    ``torch.save`` become an ``OSError`` whose message names the destination
    (the temporary file's name would mean nothing to the user).
    """
    if isinstance(err, OSError):
        code = err.errno or errno.EIO
        reason = err.strerror or str(err)
    elif isinstance(err, RuntimeError) and 'write' in str(err).lower() and (
            'fail' in str(err).lower()):
        code, reason = errno.EIO, str(err).splitlines()[0]
    else:
        return None
    return OSError(code, f'Could not write "{path}": {reason}')


def _atomic_write(path: PathLike, write: Callable[[BinaryIO, str], None]
                  ) -> str:
    """Write ``path`` through a temp file + fsync + ``os.replace``.

    The temp file ``.<name>.<pid>.<12 hex>.tmp`` sits next to the
    destination and is created with mode ``0o666 & ~umask`` (what a plain
    ``open`` gives); a replaced file keeps its mode.

    Args:
        path (str | os.PathLike): Destination; parent folders are created.
            A symlink is kept and its target is replaced.
        write (callable): ``write(fileobj, tmp_path)`` fills the temp file
            (through ``fileobj``, or by name after closing ``fileobj``, in
            which case it must fsync the file itself).

    Returns:
        str: The path that was written (the symlink target if any).

    Raises:
        OSError: The file could not be written (e.g. the disk is full); the
            message names ``path``. The temp file is removed and a previous
            file at ``path`` is left untouched.
    """
    target = osp.realpath(osp.expanduser(os.fspath(path)))
    dirname = osp.dirname(target) or '.'
    try:
        os.makedirs(dirname, exist_ok=True)
    except OSError as e:
        raise _write_error(e, os.fspath(path)) from e
    if osp.exists(target) and not osp.isfile(target):
        if osp.isdir(target):
            raise IsADirectoryError(
                21, f'Cannot write a checkpoint to "{path}": it is a folder',
                os.fspath(path))
        # A device or FIFO cannot be replaced atomically: write through.
        with open(target, 'wb') as f:
            write(f, target)
        return target

    tmp = osp.join(dirname, f'.{osp.basename(target)}.{os.getpid()}.'
                   f'{uuid.uuid4().hex[:12]}.tmp')
    try:
        # 0o666 & ~umask, like a plain open(); mkstemp would force 0o600.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | getattr(os, 'O_BINARY', 0), 0o666)
    except OSError as e:
        raise _write_error(e, os.fspath(path)) from e
    try:
        mode = os.fstat(fd).st_mode & 0o7777
        with os.fdopen(fd, 'wb') as f:
            write(f, tmp)
            if not f.closed:  # the safetensors writer syncs by itself
                f.flush()
                os.fsync(f.fileno())
        if osp.exists(target):
            mode = os.stat(target).st_mode & 0o7777
        # (a writer that recreated the file by name may have changed it)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        error = _write_error(e, os.fspath(path))
        if error is not None:
            raise error from e
        raise
    _fsync_dir(dirname)
    return target


def atomic_write_bytes(data: Union[bytes, bytearray, memoryview],
                       path: PathLike) -> None:
    """Write bytes to ``path`` atomically (temp file, fsync, rename).

    Args:
        data (bytes | bytearray | memoryview): The content.
        path (str | os.PathLike): Destination file; folders are created.
    """
    _atomic_write(path, lambda f, _tmp: f.write(data))


def save_checkpoint_atomic(obj: Any,
                           path: PathLike,
                           metadata: Optional[Dict[str, str]] = None) -> None:
    """Save a checkpoint so that ``path`` is never left half-written.

    ``.safetensors`` paths are written with ``safetensors.torch.save_file``
    (``obj`` must be a flat ``{str: Tensor}`` dict); anything else with
    ``torch.save``.  Either way the data goes to a temp file in the same
    folder, which is flushed, fsynced and renamed over ``path``.  On any
    exception the temp file is removed and a previous file at ``path`` is
    left untouched.

    Args:
        obj (Any): What to save.
        path (str | os.PathLike): Destination file; folders are created.
        metadata (dict[str, str], optional): Safetensors header metadata.
            Only valid for ``.safetensors`` paths.
    """
    path_str = os.fspath(path)
    if path_str.lower().endswith('.safetensors'):
        if not isinstance(obj, dict):
            raise TypeError(
                f'Saving "{path_str}" as safetensors needs a flat dict of '
                f'tensors, got {type(obj).__name__}')
        for key, value in obj.items():
            if not isinstance(key, str) or not isinstance(value,
                                                          torch.Tensor):
                raise TypeError(
                    f'Saving "{path_str}" as safetensors needs a flat dict '
                    f'{{str: Tensor}}; entry {key!r} is '
                    f'{type(value).__name__}')
        from safetensors.torch import save_file

        def write(f: BinaryIO, tmp: str) -> None:
            f.close()  # safetensors writes by file name
            save_file(obj, tmp, metadata=metadata)
            with open(tmp, 'rb') as g:
                os.fsync(g.fileno())

        _atomic_write(path_str, write)
        return
    if metadata is not None:
        raise ValueError(f'metadata is only supported for .safetensors '
                         f'files, not "{path_str}"')
    _atomic_write(path_str, lambda f, _tmp: torch.save(obj, f))


# ---------------------------------------------------------------------------
# Plain pickles (no globals)
# ---------------------------------------------------------------------------
#: The only globals :func:`restricted_pickle_load` resolves: containers and
#: scalars that pickle through a global (``set``, ``frozenset``,
#: ``complex``, ``bytearray``, ``OrderedDict``) and ``_codecs.encode``
#: (protocol-2 ``bytes``). ``dict``, ``list``, ``tuple``, ``str``, ``bytes``,
#: ``int``, ``float``, ``bool`` and ``None`` need no global at all.
PLAIN_PICKLE_GLOBALS: Dict[Tuple[str, str], Any] = {
    ('builtins', 'set'): set,
    ('builtins', 'frozenset'): frozenset,
    ('builtins', 'complex'): complex,
    ('builtins', 'bytearray'): bytearray,
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('_codecs', 'encode'): codecs.encode,
}


class _PlainUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`PLAIN_PICKLE_GLOBALS`."""

    def __init__(self, file: BinaryIO, path: str, **kwargs) -> None:
        super().__init__(file, **kwargs)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 pickles name __builtin__ / copy_reg: map them as
        # pickle.Unpickler does with fix_imports.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        obj = PLAIN_PICKLE_GLOBALS.get((module, name))
        if obj is None:
            raise UnsafeCheckpointError(
                f'Refused to unpickle "{self._path}" for safety: it names the '
                f'Python global {module}.{name}, and only plain containers '
                'and scalars are allowed (vpd.utils.checkpoint.'
                'PLAIN_PICKLE_GLOBALS). Unpickling it could run code from '
                'the file.', path=self._path, refused=f'{module}.{name}')
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeCheckpointError(
            f'Refused to unpickle "{self._path}": it uses persistent ids '
            '(a torch/custom pickle, not a plain one); open torch files with '
            'load_checkpoint_file.', path=self._path, refused='persistent id')


def restricted_pickle_load(file: Union[PathLike, BinaryIO],
                           encoding: str = 'ASCII',
                           errors: str = 'strict') -> Any:
    """Load a plain pickle (containers and scalars) without running code.

    For annotation files that are pickles of lists/dicts of numbers and
    strings, such as the REFER ``refs(unc).p`` files of RefCOCO. Every
    global a pickle names is refused except :data:`PLAIN_PICKLE_GLOBALS`, so
    the classic ``__reduce__`` exploits (``os.system``, ``exec``, any
    importable function) cannot run; neither can persistent ids.

    Args:
        file (str | os.PathLike | BinaryIO): A path or a binary file object.
        encoding (str): How Python 2 ``str`` objects are decoded (as in
            :class:`pickle.Unpickler`); ``'latin1'`` keeps arbitrary bytes.
            Defaults to 'ASCII'.
        errors (str): Decoding error handling. Defaults to 'strict'.

    Returns:
        Any: The unpickled object.

    Raises:
        FileNotFoundError: The path does not exist.
        UnsafeCheckpointError: The pickle names a global that is not allowed
            (the message names it and the file).
        CheckpointError: The file is not a readable pickle.
    """
    if isinstance(file, (str, bytes, os.PathLike)):
        path = osp.expanduser(os.fsdecode(file))
        if not osp.isfile(path):
            raise FileNotFoundError(
                2, f'Pickle file not found: "{path}"', path)
        with open(path, 'rb') as f:
            data = f.read()
    else:
        path = getattr(file, 'name', '<file object>')
        data = file.read()
    try:
        return _PlainUnpickler(io.BytesIO(data), str(path),
                               encoding=encoding, errors=errors).load()
    except UnsafeCheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - pickle raises many types
        raise CheckpointError(
            f'"{path}" is not a readable pickle: {type(e).__name__}: '
            f'{e}') from None
