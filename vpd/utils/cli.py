"""Command-line glue shared by ``tools/*.py``: one-line user errors and a
checked ``--cfg-options`` parser.

:func:`run_tool` runs a tool's ``main(argv)``. An error caused by the user's
input (a missing file, a bad config key or value, a refused checkpoint, a
diverged run...) is printed as ONE line, ``error: <message>``, at the end,
and the process exits with status 2 (as argparse does for a bad command
line); the full traceback is printed only with
``--debug`` on the command line or ``VPD_DEBUG=1`` in the environment.
Anything else (a bug) keeps Python's traceback. What counts as a user error
is decided by :func:`user_error_message`.

:class:`CfgOptionsAction` is mmengine's ``DictAction`` that refuses
malformed ``KEY=VALUE`` items with a message naming the item.
"""
from __future__ import annotations

import argparse
import errno
import linecache
import os
import os.path as osp
import re
import sys
from typing import Any, Callable, Iterator, List, Optional, Sequence

from mmengine.config import DictAction

__all__ = ['run_tool', 'handle_tool_error', 'user_error_message',
           'CfgOptionsAction', 'debug_enabled', 'DEBUG_ENV']

#: Exit status after a user error (argparse uses 2 for a bad command line).
USER_ERROR_STATUS = 2
#: Environment variable that turns on full tracebacks (any value but
#: '', '0', 'false', 'no').
DEBUG_ENV = 'VPD_DEBUG'

_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: Code whose deliberate ``raise`` statements describe bad user input.
_PROJECT_DIRS = tuple(osp.join(_ROOT, d) + os.sep for d in ('vpd', 'tools'))
#: mmengine modules that validate configs (registry lookups, config files).
_MMENGINE_CHECKS = (os.sep + osp.join('mmengine', 'config') + os.sep,
                    os.sep + osp.join('mmengine', 'registry') + os.sep)
#: Exception types that can describe bad input. AssertionError,
#: AttributeError, NameError, ZeroDivisionError ... are always bugs.
_USER_TYPES = (OSError, ValueError, LookupError, TypeError, RuntimeError,
               SyntaxError, ImportError)
#: ``OSError`` numbers that are about the user's files or disk.
_FILE_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES,
                errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                errno.EEXIST, errno.ENAMETOOLONG, errno.EIO}


def debug_enabled(argv: Optional[List[str]] = None) -> bool:
    """Whether full tracebacks were asked for (``--debug`` or VPD_DEBUG)."""
    if argv is not None and '--debug' in argv:
        return True
    value = os.environ.get(DEBUG_ENV, '').strip().lower()
    return value not in ('', '0', 'false', 'no', 'off')


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _raise_site(exc: BaseException):
    """``(filename, lineno)`` of the frame that raised ``exc``."""
    tb = exc.__traceback__
    if tb is None:
        return None, None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename, tb.tb_lineno


def _is_raise_statement(filename: str, lineno: int) -> bool:
    line = linecache.getline(filename, lineno).strip()
    return line.startswith('raise ') or line == 'raise'


def _deliberate(filename: Optional[str], lineno: Optional[int],
                dirs: Sequence[str]) -> bool:
    if not filename or not lineno:
        return False
    path = osp.abspath(filename)
    return (any(path.startswith(d) or d in path for d in dirs)
            and _is_raise_statement(filename, lineno))


_BAD_ARGUMENT = re.compile(
    r'\(\) (got an unexpected keyword argument|missing \d+ required)')
_WORKER_SITE = re.compile(r'File "([^"]+)", line (\d+)')


def _worker_error(message: str) -> Optional[tuple]:
    """``(site, last line)`` of a DataLoader worker's re-raised traceback."""
    if 'Original Traceback' not in message:
        return None
    sites = _WORKER_SITE.findall(message)
    lines = [ln for ln in message.strip().splitlines() if ln.strip()]
    if not sites or not lines:
        return None
    filename, lineno = sites[-1]
    return (filename, int(lineno)), lines[-1].strip()


def _one_line(text: str) -> str:
    return ' '.join(str(text).split())


def user_error_message(exc: BaseException) -> Optional[str]:
    """The one-line message of an error caused by user input, else None.

    An error is the user's (not a bug) when its type can describe input
    (``OSError``, ``ValueError``, ``LookupError``, ``TypeError``,
    ``RuntimeError``, ``SyntaxError``, ``ImportError`` and subclasses) and
    one of these holds:

    * it, or an exception it was raised from, was raised by a ``raise``
      statement of this project (``vpd/``, ``tools/``): those messages name
      the file, key or value by design;
    * it was raised by mmengine's config or registry code (a config file
      that does not parse, an unknown ``type=``), or is the ``TypeError``
      of a config dict with a misspelled or missing argument raised when
      mmengine's registry builds it,
      unless it re-raises an error of this project's code that is not a
      ``raise`` statement (a bug);
    * it is an ``OSError`` about a file or the disk (missing file, no
      permission, disk full ...);
    * it was re-raised from a DataLoader worker and the original was one of
      the above (the worker's last traceback line is used).

    Args:
        exc (BaseException): The exception.

    Returns:
        str | None: The message (exception type and text, on one line), or
        None for an error that looks like a bug.
    """
    if not isinstance(exc, _USER_TYPES):
        return None
    name = type(exc).__name__
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(
            exc.args[0], str):
        text = exc.args[0]  # str(KeyError) would add quotes
    else:
        text = str(exc)
    worker = _worker_error(text)
    if worker is not None:
        (filename, lineno), last = worker
        if _deliberate(filename, lineno, _PROJECT_DIRS) or \
                _deliberate(filename, lineno, _MMENGINE_CHECKS):
            return _one_line(last)
        return None
    for link in _chain(exc):
        filename, lineno = _raise_site(link)
        if _deliberate(filename, lineno, _PROJECT_DIRS):
            return _one_line(f'{name}: {text}')
        if isinstance(link, TypeError) and filename and any(
                d in osp.abspath(filename) for d in _MMENGINE_CHECKS) and \
                _BAD_ARGUMENT.search(str(link)):
            # a config dict with a misspelled or missing argument, found
            # when mmengine calls the class with it
            return _one_line(f'{name}: {text}')
        if _deliberate(filename, lineno, _MMENGINE_CHECKS):
            # mmengine re-raises what a constructor raised, prefixed with
            # the class: a bug in our code stays a bug
            cause = link.__cause__ or link.__context__
            if cause is not None:
                f2, l2 = _raise_site(cause)
                if f2 and any(osp.abspath(f2).startswith(d)
                              for d in _PROJECT_DIRS) and \
                        not _is_raise_statement(f2, l2):
                    return None
            return _one_line(f'{name}: {text}')
    if isinstance(exc, OSError) and (exc.filename is not None
                                     or exc.errno in _FILE_ERRNOS):
        return _one_line(f'{name}: {text}')
    return None


def run_tool(main: Callable[[List[str]], Any],
             argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's ``main(argv)`` and exit with its status.

    ``--debug`` is removed from the arguments (and turns on tracebacks).
    Exit status: ``main``'s return value if it is an int, else 0; 2 after a
    user error (printed as one line, see :func:`user_error_message`); 130
    on Ctrl-C; a bug propagates with its traceback.

    Args:
        main (callable): The tool's ``main``, taking the argument list.
        argv (Sequence[str], optional): Arguments; defaults to
            ``sys.argv[1:]``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = debug_enabled(args)
    args = [a for a in args if a != '--debug']
    try:
        result = main(args)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - sorted below
        handle_tool_error(exc, debug)
    sys.exit(result if isinstance(result, int) and
             not isinstance(result, bool) else 0)


def handle_tool_error(exc: BaseException, debug: bool = False) -> None:
    """Print a user error as one line and exit 2; re-raise anything else.

    For tools that must not import vpd (and torch) before an error happens:
    ``except Exception as e: handle_tool_error(e, '--debug' in argv)``
    inside the ``except`` block.

    Args:
        exc (BaseException): The exception being handled.
        debug (bool): Re-raise (full traceback) whatever it is; also on when
            :data:`DEBUG_ENV` is set.
    """
    message = None if debug or debug_enabled() else user_error_message(exc)
    if message is None:
        raise exc
    sys.stdout.flush()
    print(f'error: {message} (--debug or {DEBUG_ENV}=1 shows the '
          'traceback)', file=sys.stderr, flush=True)
    sys.exit(USER_ERROR_STATUS)


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` with a clear error for malformed items.

    Every item must be ``KEY=VALUE`` with a dotted KEY of identifiers or
    list indices and balanced brackets in VALUE; anything else stops
    argument parsing with ``argument --cfg-options: expected KEY=VALUE, got
    '<item>'`` (plus a hint for ``KEY VALUE`` and ``KEY:VALUE``). Values are
    parsed as mmengine does (int, float, bool, None, lists, tuples,
    strings); whether a value fits the config is checked when it is merged
    (:func:`vpd.engine.config_check.merge_cfg_options`).
    """

    _KEY = re.compile(r'^[A-Za-z_][\w-]*(\.[\w-]+)*$')

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        items = list(values or [])
        for i, item in enumerate(items):
            key, sep, value = item.partition('=')
            problem = None
            if not sep:
                hint = ''
                if ':' in item:
                    k, _, v = item.partition(':')
                    hint = f' (write {k}={v})'
                elif i + 1 < len(items) and '=' not in items[i + 1]:
                    hint = f' (write {item}={items[i + 1]}, without a space)'
                problem = f"expected KEY=VALUE, got '{item}'{hint}"
            elif not self._KEY.match(key):
                problem = (f"expected KEY=VALUE with a dotted key such as "
                           f"train_cfg.max_iters, got '{item}'")
            elif value.count('(') != value.count(')') or \
                    value.count('[') != value.count(']'):
                problem = f"unbalanced brackets in '{item}'"
            if problem:
                raise argparse.ArgumentError(self, problem)
        super().__call__(parser, namespace, values, option_string)
