"""Resumable, verified file downloads with the standard library only.

:func:`download_file` fetches a URL with ``urllib`` into ``DEST.part``,
resuming an existing part file with an HTTP ``Range`` request (after a cut
connection, within one call and across calls), shows a progress bar (tqdm,
when installed and stderr is a terminal), checks the sha256 when one is given
and renames the part file to ``DEST`` only when it is complete and verified.
When the host cannot be reached it fails fast and says where to place the
file by hand.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import os.path as osp
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO, Iterator, Optional, Union

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ['DownloadError', 'download_file', 'file_sha256', 'manual_hint']

DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
_CHUNK = 1 << 20
_SHA256_RE = re.compile(r'^[0-9a-f]{64}$')


class DownloadError(RuntimeError):
    """A download failed; the message says what to do next."""


class _CutConnection(Exception):
    """The body stopped early; ``received`` bytes were written."""

    def __init__(self, received: int, reason: str) -> None:
        super().__init__(reason)
        self.received = received


class _Unreachable(Exception):
    """No response at all (DNS failure, refused, connect timeout...)."""


def file_sha256(path: Union[str, os.PathLike], chunk_size: int = _CHUNK
                ) -> str:
    """Return the hex sha256 of a file.

    Args:
        path (str | os.PathLike): The file.
        chunk_size (int): Read size in bytes.

    Returns:
        str: 64 lowercase hex digits.
    """
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk_size), b''):
            h.update(block)
    return h.hexdigest()


def _normalize_sha256(sha256: Optional[str]) -> Optional[str]:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if not _SHA256_RE.match(value):
        raise ValueError(f'sha256 must be 64 hex digits, got {sha256!r}')
    return value


def manual_hint(url: str, dest: str, sha256: Optional[str] = None) -> str:
    """The "place the file by hand" instructions used in errors.

    Args:
        url (str): Where the file comes from.
        dest (str): Where it must be placed.
        sha256 (str, optional): The expected checksum.

    Returns:
        str: A multi-line hint.
    """
    check = (f'\n  Its sha256 must be {sha256} (check with: sha256sum '
             f'"{dest}").' if sha256 else '')
    return (f'To install it by hand, download\n  {url}\non a machine with '
            f'internet access and place it at\n  {dest}{check}')


def _part_size(f: BinaryIO) -> int:
    f.flush()
    return os.fstat(f.fileno()).st_size


@contextlib.contextmanager
def _locked_part(part: str) -> Iterator[Optional[BinaryIO]]:
    """Open ``part`` for appending, locked against a concurrent download.

    When another process holds the lock (e.g. the other ranks of a
    ``tools/dist_test.sh`` run resolving the same URL) this waits for it;
    the caller then finds the finished file. If the other process renamed
    the part file to the final file meanwhile this yields None; if it
    removed it, it is opened afresh.
    """
    while True:
        f = open(part, 'ab')
        if fcntl is None:
            break
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(f'Another process is downloading into "{part}"; waiting '
                  'for it.', file=sys.stderr, flush=True)
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            same = os.fstat(f.fileno()).st_ino == os.stat(part).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()  # renamed to the final file, or removed: open afresh
        if osp.isfile(part[:-len('.part')]):
            yield None
            return
    try:
        yield f
    finally:
        f.close()


def _set_read_timeout(resp: http.client.HTTPResponse, timeout: float) -> None:
    """Switch the socket from the connect timeout to the read timeout."""
    raw = getattr(getattr(resp, 'fp', None), 'raw', None)
    sock = getattr(raw, '_sock', None)
    if sock is not None and hasattr(sock, 'settimeout'):
        sock.settimeout(timeout)


def _content_range(value: Optional[str]):
    """Parse ``bytes A-B/T`` or ``bytes */T`` into (start, total)."""
    if not value:
        return None, None
    m = re.match(r'\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)', value)
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != '*' else None
    return start, total


def _progress_bar(total: Optional[int], initial: int, desc: str,
                  enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with the stack
        return None
    return tqdm(total=total, initial=initial, unit='B', unit_scale=True,
                unit_divisor=1024, desc=desc, file=sys.stderr, leave=True)


def _fetch(url: str, f: BinaryIO, connect_timeout: float, timeout: float,
           progress: bool, desc: str) -> None:
    """One HTTP request appending to ``f`` from its current size.

    Raises:
        _Unreachable: No response was obtained.
        _CutConnection: The body ended early or stalled.
        DownloadError: The server answered with an error.
    """
    offset = _part_size(f)
    headers = {'User-Agent': 'vpd-downloader (python-urllib)',
               'Accept-Encoding': 'identity'}
    if offset:
        headers['Range'] = f'bytes={offset}-'
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=connect_timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:
            _, total = _content_range(e.headers.get('Content-Range'))
            if total == offset:
                return  # the part file is already complete
            f.truncate(0)  # stale or oversized part file: start over
            raise _CutConnection(0, 'the server refused to resume; starting '
                                 'over') from None
        hint = ''
        if e.code in (401, 403):
            hint = (' (the file may need a login or accepting a licence on '
                    'the website)')
        raise DownloadError(
            f'HTTP {e.code} {e.reason} for {url}{hint}.') from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, 'reason', None) or e
        raise _Unreachable(f'{type(reason).__name__}: {reason}') from None

    with resp:
        _set_read_timeout(resp, timeout)
        status = resp.status
        length = resp.headers.get('Content-Length')
        length = int(length) if length and length.isdigit() else None
        if status == 206:
            start, total = _content_range(resp.headers.get('Content-Range'))
            if start != offset:
                f.truncate(0)
                raise _CutConnection(0, 'the server resumed at the wrong '
                                     'offset; starting over')
        elif status == 200:
            if offset:  # the server ignored Range: start from scratch
                f.truncate(0)
                offset = 0
            total = length
        else:
            raise DownloadError(
                f'Unexpected HTTP status {status} for {url} (expected 200 or '
                '206).')
        if total is None and length is not None:
            total = offset + length
        bar = _progress_bar(total, offset, desc, progress)
        received = 0
        try:
            while True:
                try:
                    chunk = resp.read(_CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise _CutConnection(
                        received, f'{type(e).__name__}: {e}') from None
                if not chunk:
                    break
                f.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            f.flush()
            if bar is not None:
                bar.close()
        if length is not None and received < length:
            raise _CutConnection(
                received, f'connection closed after {received} of {length} '
                'bytes')


def download_file(url: str,
                  dest: Union[str, os.PathLike],
                  sha256: Optional[str] = None,
                  timeout: float = DEFAULT_TIMEOUT,
                  connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                  retries: int = 5,
                  progress: Optional[bool] = None) -> str:
    """Download ``url`` to ``dest``, resumably and atomically.

    The data goes to ``dest + '.part'``. An existing part file is resumed
    with an HTTP ``Range`` request (servers that ignore it restart from
    zero); a connection that breaks mid-body is reopened from where it
    stopped. Only a complete file whose sha256 matches (when given) is
    renamed to ``dest``. If ``dest`` already exists it is returned as is
    (after a sha256 check when one is given).

    Args:
        url (str): An ``http://`` or ``https://`` URL (redirects followed,
            proxies from the environment used).
        dest (str | os.PathLike): Final file path; folders are created.
        sha256 (str, optional): Expected sha256 (64 hex digits). On a
            mismatch the downloaded data is deleted.
        timeout (float): Seconds a read may stall before the connection
            counts as cut. Defaults to 60.
        connect_timeout (float): Seconds to wait for the server to answer
            (connect + response headers); kept short so that an offline
            machine fails fast. Defaults to 10.
        retries (int): Reconnections allowed in a row after cuts that
            brought no new data. Defaults to 5.
        progress (bool, optional): Show a progress bar; None shows one when
            stderr is a terminal.

    Returns:
        str: The absolute path of the downloaded file.

    Raises:
        ValueError: Bad ``url`` or ``sha256``.
        DownloadError: Unreachable host, HTTP error, repeated cuts,
            checksum mismatch, or an existing ``dest`` with the wrong
            checksum. The message says where to place the file by hand.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ('http', 'https') or not parsed.netloc:
        raise ValueError(f'url must be an http(s):// URL, got {url!r}')
    sha256 = _normalize_sha256(sha256)
    dest = osp.abspath(osp.expanduser(os.fspath(dest)))
    if osp.isdir(dest):
        raise ValueError(f'dest must be a file path, "{dest}" is a folder')
    os.makedirs(osp.dirname(dest), exist_ok=True)
    if progress is None:
        progress = sys.stderr.isatty()

    if osp.isfile(dest):
        if sha256 is None:
            return dest
        actual = file_sha256(dest)
        if actual == sha256:
            return dest
        raise DownloadError(
            f'"{dest}" already exists but its sha256 is {actual}, expected '
            f'{sha256}. Delete it (or give the right checksum) and run '
            'again.')

    part = dest + '.part'
    with _locked_part(part) as f:
        if f is None or osp.isfile(dest):  # another process finished it
            if f is not None and _part_size(f) == 0:
                _remove_quietly(part)
            return dest
        resumed_from = _part_size(f)
        try:
            _download_loop(url, f, connect_timeout, timeout, retries,
                           progress, osp.basename(dest))
        except BaseException as e:
            size = _part_size(f)
            if size == 0:
                _remove_quietly(part)
            kept = (f' The {size} bytes in "{part}" are kept; run again to '
                    'resume.' if size else '')
            hint = manual_hint(url, dest, sha256)
            if isinstance(e, _Unreachable):
                raise DownloadError(
                    f'Cannot reach {parsed.netloc} to download {url} ({e}); '
                    f'this machine may be offline.{kept}\n{hint}') from None
            if isinstance(e, DownloadError):
                raise DownloadError(f'{e}{kept}\n{hint}') from None
            raise

        os.fsync(f.fileno())
        if sha256 is not None:
            actual = file_sha256(part)
            if actual != sha256:
                size = _part_size(f)
                _remove_quietly(part)
                raise DownloadError(
                    f'Checksum mismatch for {url}: expected sha256 {sha256}, '
                    f'got {actual} ({size} bytes, resumed from byte '
                    f'{resumed_from}). The downloaded data was deleted; run '
                    'again, or check the expected checksum.')
        if os.name == 'nt':  # pragma: no cover - cannot rename an open file
            f.close()
        os.replace(part, dest)
    return dest


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _download_loop(url: str, f: BinaryIO, connect_timeout: float,
                   timeout: float, retries: int, progress: bool,
                   desc: str) -> None:
    """Call :func:`_fetch` until the file is complete or retries run out."""
    stalled = 0
    while True:
        try:
            _fetch(url, f, connect_timeout, timeout, progress, desc)
            return
        except _CutConnection as cut:
            stalled = 0 if cut.received else stalled + 1
            if stalled > retries:
                raise DownloadError(
                    f'Downloading {url} failed: the connection broke '
                    f'{stalled} times in a row without new data ({cut}).'
                ) from None
