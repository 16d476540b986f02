"""Import-compatibility layer for running mmseg 1.2.2 on ``mmcv-lite``.

mmseg 1.2.2 asserts ``mmcv < 2.2`` at import time, and there is no prebuilt
mmcv 2.1 wheel with compiled ops for current torch releases.  The pure-Python
``mmcv-lite`` 2.1.0 provides ``mmcv``, ``mmcv.cnn`` and ``mmcv.transforms``,
but ``import mmcv.ops`` fails on ``mmcv._ext`` and ``mmseg.utils`` imports
``mmcv.ops`` unconditionally, so ``import mmseg.models`` fails.

:func:`install_mmcv_ext_placeholder` registers a placeholder module under
``sys.modules['mmcv._ext']`` *before* mmseg is imported.  Its ``__spec__`` has
no loader, so mmengine keeps reporting "mmcv full unavailable"; any compiled
op looked up on it raises :class:`MMCVOpsUnavailableError` with an explanation
when it is called (not when it is imported).  Nothing installed is edited and
no third-party class is patched.  When a real ``mmcv._ext`` is importable the
function does nothing.

This project's configs never need a compiled op (``tests/configs/``
builds every one of them on mmcv-lite).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

__all__ = ['install_mmcv_ext_placeholder', 'MMCVOpsUnavailableError',
           'has_compiled_mmcv_ops']

_PLACEHOLDER_FLAG = '__vpd_placeholder__'


class MMCVOpsUnavailableError(RuntimeError):
    """Raised when a compiled mmcv op is called on an mmcv-lite install."""


class _MissingOp:
    """Stands for one compiled op; raises a clear error when called."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args, **kwargs):
        raise MMCVOpsUnavailableError(
            f'The compiled mmcv op "{self._name}" is not available: this '
            'environment has mmcv-lite (pure Python). vpd configs never need '
            'compiled ops; if your own config does, install full mmcv 2.1 '
            '(built from source against your torch) instead of mmcv-lite.')

    def __getattr__(self, item: str):
        return _MissingOp(f'{self._name}.{item}')


class _PlaceholderExt(types.ModuleType):
    """A module whose every attribute is a :class:`_MissingOp`."""

    def __getattr__(self, item: str):
        if item.startswith('__') and item.endswith('__'):
            raise AttributeError(item)
        return _MissingOp(item)


def has_compiled_mmcv_ops() -> bool:
    """Whether a real (compiled) ``mmcv._ext`` is importable."""
    mod = sys.modules.get('mmcv._ext')
    if mod is not None:
        return not getattr(mod, _PLACEHOLDER_FLAG, False)
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def install_mmcv_ext_placeholder() -> bool:
    """Make ``mmseg`` importable on mmcv-lite.

    Returns:
        bool: True if the placeholder was installed now or earlier, False if
        real compiled ops exist (nothing is done then).
    """
    existing = sys.modules.get('mmcv._ext')
    if existing is not None:
        return bool(getattr(existing, _PLACEHOLDER_FLAG, False))
    if has_compiled_mmcv_ops():
        return False
    mod = _PlaceholderExt('mmcv._ext')
    # A spec without a loader: importlib.util.find_spec('mmcv._ext') stays
    # truthful enough for mmengine, which then reports "mmcv full unavailable".
    mod.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
    setattr(mod, _PLACEHOLDER_FLAG, True)
    sys.modules['mmcv._ext'] = mod
    return True
