"""Resumable, verified downloads against a local HTTP server (127.0.0.1)."""
import hashlib
import http.server
import os
import re
import socket
import threading
import time

import pytest
import torch

import vpd  # noqa: F401
from vpd.utils.download import DownloadError, download_file

DATA = bytes(range(256)) * 257  # 65,792 bytes, not a multiple of anything
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Keep 127.0.0.1 requests off any proxy configured in the environment."""
    for var in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY',
                'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost')
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')


class Server:
    """A tiny file server with Range support and scripted failures.

    Args:
        data (bytes): The file served at every path.
        cut_after (int, optional): Send only this many body bytes per
            response, then close the connection.
        cut_first_then_drop (bool): Cut the first response half-way, then
            drop every later connection without answering (the network
            "goes away").
        honor_range (bool): Whether Range requests are answered with 206.
        status (int): Answer every request with this error status instead.
    """

    def __init__(self, data=DATA, cut_after=None, cut_first_then_drop=False,
                 honor_range=True, status=None):
        self.data = data
        self.ranges = []  # the Range header of each request (or None)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.ranges.append(self.headers.get('Range'))
                if cut_first_then_drop and len(server.ranges) > 1:
                    self.close_connection = True
                    return  # no response at all
                if status is not None:
                    self.send_error(status)
                    return
                data = server.data
                start = 0
                rng = self.headers.get('Range')
                if rng and honor_range:
                    start = int(re.match(r'bytes=(\d+)-$', rng).group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header('Content-Range',
                                         f'bytes */{len(data)}')
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header(
                        'Content-Range',
                        f'bytes {start}-{len(data) - 1}/{len(data)}')
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                limit = cut_after
                if cut_first_then_drop:
                    limit = len(data) // 2
                if limit is not None and limit < len(body):
                    self.wfile.write(body[:limit])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs=dict(poll_interval=0.05),
                                       daemon=True)

    @property
    def url(self):
        return f'http://127.0.0.1:{self.httpd.server_address[1]}/files/m.pth'

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _closed_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_download_and_verify(tmp_path):
    dest = tmp_path / 'sub' / 'm.pth'
    with Server() as srv:
        out = download_file(srv.url, dest, sha256=SHA.upper(), progress=False)
    assert out == str(dest)
    assert dest.read_bytes() == DATA
    assert srv.ranges == [None]
    assert os.listdir(dest.parent) == ['m.pth']


def test_resume_across_calls_after_cut_connection(tmp_path):
    dest = tmp_path / 'm.pth'
    part = tmp_path / 'm.pth.part'
    with Server(cut_first_then_drop=True) as first:
        with pytest.raises(DownloadError) as info:
            download_file(first.url, dest, sha256=SHA, progress=False)
    half = len(DATA) // 2
    assert part.stat().st_size == half
    assert not dest.exists()
    assert 'kept' in str(info.value) and str(dest) in str(info.value)

    with Server() as second:
        out = download_file(second.url, dest, sha256=SHA, progress=False)
    assert second.ranges == [f'bytes={half}-']
    assert out == str(dest)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == SHA
    assert not part.exists()


def test_resume_within_one_call(tmp_path):
    dest = tmp_path / 'm.pth'
    chunk = len(DATA) // 5 + 1
    with Server(cut_after=chunk) as srv:
        download_file(srv.url, dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == DATA
    assert srv.ranges == [None] + [f'bytes={chunk * i}-' for i in range(1, 5)]


def test_server_ignoring_range_restarts(tmp_path):
    dest = tmp_path / 'm.pth'
    (tmp_path / 'm.pth.part').write_bytes(b'stale data from elsewhere')
    with Server(honor_range=False) as srv:
        download_file(srv.url, dest, sha256=SHA, progress=False)
    assert srv.ranges == ['bytes=25-']
    assert dest.read_bytes() == DATA


def test_complete_part_file_is_finished(tmp_path):
    dest = tmp_path / 'm.pth'
    (tmp_path / 'm.pth.part').write_bytes(DATA)
    with Server() as srv:
        download_file(srv.url, dest, sha256=SHA, progress=False)
    assert srv.ranges == [f'bytes={len(DATA)}-']
    assert dest.read_bytes() == DATA
    assert os.listdir(tmp_path) == ['m.pth']


def test_checksum_mismatch_is_rejected(tmp_path):
    dest = tmp_path / 'm.pth'
    wrong = '0' * 64
    with Server() as srv:
        with pytest.raises(DownloadError) as info:
            download_file(srv.url, dest, sha256=wrong, progress=False)
    message = str(info.value)
    assert wrong in message and SHA in message
    assert os.listdir(tmp_path) == []


def test_existing_file_is_not_downloaded_again(tmp_path):
    dest = tmp_path / 'm.pth'
    dest.write_bytes(DATA)
    with Server() as srv:
        assert download_file(srv.url, dest, sha256=SHA) == str(dest)
    assert srv.ranges == []


def test_existing_file_with_wrong_checksum_is_reported(tmp_path):
    dest = tmp_path / 'm.pth'
    dest.write_bytes(b'something else')
    with pytest.raises(DownloadError, match='already exists'):
        download_file('http://127.0.0.1:1/m.pth', dest, sha256=SHA)
    assert dest.read_bytes() == b'something else'


def test_unreachable_fails_fast_with_manual_hint(tmp_path):
    dest = tmp_path / 'm.pth'
    url = f'http://127.0.0.1:{_closed_port()}/m.pth'
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_file(url, dest, sha256=SHA, connect_timeout=3,
                      progress=False)
    assert time.monotonic() - start < 3
    message = str(info.value)
    assert 'Cannot reach' in message and 'by hand' in message
    assert str(dest) in message and SHA in message
    assert os.listdir(tmp_path) == []


def test_http_error_names_status(tmp_path):
    dest = tmp_path / 'm.pth'
    with Server(status=404) as srv:
        with pytest.raises(DownloadError, match='HTTP 404'):
            download_file(srv.url, dest, progress=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('kwargs,match', [
    (dict(url='ftp://host/x.pth'), 'http'),
    (dict(url='http://127.0.0.1/x.pth', sha256='abc'), '64 hex'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        download_file(dest=tmp_path / 'x.pth', **kwargs)


# ---------------------------------------------------------------------------
# Model zoo resolution and the command-line tool
# ---------------------------------------------------------------------------
def test_resolve_checkpoint(tmp_path, monkeypatch):
    from vpd.utils import model_zoo
    from vpd.utils.model_zoo import resolve_checkpoint

    local = tmp_path / 'local.pth'
    local.write_bytes(b'x')
    assert resolve_checkpoint(str(local), tmp_path / 'cache') == str(local)

    cache = tmp_path / 'cache'
    with Server() as srv:
        entry = dict(url=srv.url, sha256=SHA, filename='zoo.pth',
                     format='mmengine', config=None)
        monkeypatch.setitem(model_zoo.MODEL_ZOO, 'test-model', entry)
        # a zoo name: downloaded (verified) once, then found in the cache
        assert resolve_checkpoint('test-model', cache) == str(
            cache / 'zoo.pth')
        assert resolve_checkpoint('test-model', cache,
                                  download=False) == str(cache / 'zoo.pth')
        # a URL that is not in the zoo: named after the URL
        other = srv.url.replace('m.pth', 'other.pth')
        assert resolve_checkpoint(other, cache) == str(cache / 'other.pth')
        assert len(srv.ranges) == 2
    assert (cache / 'other.pth').read_bytes() == DATA

    with pytest.raises(FileNotFoundError) as info:
        resolve_checkpoint('no-such-model', cache)
    message = str(info.value)
    assert 'local file' in message and 'model-zoo name' in message
    assert 'URL' in message

    monkeypatch.setitem(model_zoo.MODEL_ZOO, 'manual', dict(
        url=None, sha256=None, filename='manual.pth', format='vpd-depth',
        config=None))
    with pytest.raises(FileNotFoundError, match='by hand'):
        resolve_checkpoint('manual', cache)


def test_cli(tmp_path, capsys):
    from _tools import load_tool
    tool = load_tool('download')

    with Server() as srv:
        assert tool.main([srv.url, '--dir', str(tmp_path), '--sha256', SHA,
                          '--timeout', '5']) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / 'm.pth')

    url = f'http://127.0.0.1:{_closed_port()}/x.pth'
    assert tool.main([url, '--dir', str(tmp_path)]) == 1
    assert 'by hand' in capsys.readouterr().err

    assert tool.main(['--list']) == 0
    assert 'sd-v1-5' in capsys.readouterr().out


# ---------------------------------------------------------------------------
# mmengine URLs go through the downloader and the safe loader
# ---------------------------------------------------------------------------
class _Payload:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_mmengine_url_checkpoints_are_loaded_safely(tmp_path, monkeypatch):
    import io

    from mmengine.runner.checkpoint import CheckpointLoader

    import vpd.engine.checkpoint_io as cio
    from vpd.utils.checkpoint import UnsafeCheckpointError

    monkeypatch.setattr(cio, 'hub_checkpoint_dir',
                        lambda: str(tmp_path / 'hub'))
    good = io.BytesIO()
    torch.save({'state_dict': {'w': torch.arange(3.0)}}, good)
    with Server(data=good.getvalue()) as srv:
        ck = CheckpointLoader.load_checkpoint(srv.url, map_location='cpu')
    torch.testing.assert_close(ck['state_dict']['w'], torch.arange(3.0))
    assert (tmp_path / 'hub' / 'm.pth').is_file()

    marker = tmp_path / 'MARKER'
    evil = io.BytesIO()
    torch.save({'x': _Payload(marker)}, evil)
    with Server(data=evil.getvalue()) as srv:
        url = srv.url.replace('m.pth', 'evil.pth')
        with pytest.raises(UnsafeCheckpointError, match='for safety'):
            CheckpointLoader.load_checkpoint(url, map_location='cpu')
    assert not marker.exists()


def test_concurrent_download_waits_for_the_other_process(tmp_path,
                                                         monkeypatch):
    """A second downloader of the same file (another rank of dist_test.sh)
    waits for the lock holder and then uses its finished file: no second
    download, no error."""
    import fcntl

    from vpd.utils import download as dl
    dest = tmp_path / 'm.pth'
    part = tmp_path / 'm.pth.part'
    waiting = threading.Event()
    real_print = print

    def spy(*args, **kwargs):  # the waiting message is printed just before
        waiting.set()          # the blocking lock call
        real_print(*args, **kwargs)

    monkeypatch.setattr(dl, 'print', spy, raising=False)
    holder = open(part, 'ab')  # "the other process" holds the lock
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
    result = {}
    with Server() as srv:
        thread = threading.Thread(target=lambda: result.update(
            out=download_file(srv.url, dest, sha256=SHA, progress=False)))
        thread.start()
        assert waiting.wait(30)
        holder.write(DATA)  # the other process finishes: rename, unlock
        holder.flush()
        os.replace(part, dest)
        holder.close()
        thread.join(30)
    assert result['out'] == str(dest)
    assert dest.read_bytes() == DATA
    assert srv.ranges == []  # nothing was downloaded twice
    assert not part.exists()


def test_list_is_a_table_with_sizes_and_purposes(capsys):
    from _tools import load_tool
    tool = load_tool('download')
    assert tool.main(['--list']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ['name', 'size', 'format', 'what', 'it',
                                'is', 'for']
    assert set(lines[1]) == {'-', ' '}
    sd = next(line for line in lines if line.startswith('sd-v1-5 '))
    assert '4.0 GiB' in sd and 'SD1.5 config' in sd
    assert any('checkpoints/<file> find them' in line for line in lines)
