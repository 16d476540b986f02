"""Which errors the tools print as one line (user input) and which keep
their traceback (bugs)."""
import errno
import os.path as osp
import sys

import pytest

from vpd.utils.cli import handle_tool_error, run_tool, user_error_message


def _raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError('nothing raised')


def test_deliberate_errors_of_the_project_are_user_errors(tmp_path):
    from vpd.utils.checkpoint import load_checkpoint_file
    err = _raised(lambda: load_checkpoint_file(tmp_path / 'none.pth'))
    line = user_error_message(err)
    assert line.startswith('FileNotFoundError: ') and 'none.pth' in line
    assert '\n' not in line


def test_bugs_keep_their_traceback():
    from vpd.utils import cli
    # an AttributeError is always a bug; so is a TypeError the interpreter
    # raises inside project code (not a `raise` statement)
    assert user_error_message(_raised(lambda: None.shape)) is None
    err = _raised(lambda: cli._one_line(None) + 1)
    assert isinstance(err, TypeError) and user_error_message(err) is None


def test_disk_and_file_errors_anywhere_are_user_errors():
    err = OSError(errno.ENOSPC, 'No space left on device')
    assert user_error_message(err) == \
        'OSError: [Errno 28] No space left on device'
    err = _raised(lambda: open('/nonexistent/dir/file.txt'))
    assert '/nonexistent/dir/file.txt' in user_error_message(err)


def test_errors_re_raised_by_mmengine_keep_the_project_message():
    from mmengine.registry import MODELS
    err = _raised(lambda: MODELS.build(dict(type='NoSuchModelAnywhere')))
    assert 'NoSuchModelAnywhere' in user_error_message(err)
    from vpd.registry import MODELS as VPD_MODELS
    err = _raised(lambda: VPD_MODELS.build(dict(
        type='BatchSiLogLoss', lamdb=0.5)))  # misspelled argument
    line = user_error_message(err)
    assert 'BatchSiLogLoss' in line and "'lamdb'" in line


def test_dataloader_worker_errors_use_the_original_last_line():
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    source = osp.join(root, 'vpd', 'datasets', 'base_depth_dataset.py')
    lineno = next(i for i, line in enumerate(open(source), 1)
                  if line.strip().startswith('raise RuntimeError('))
    text = ('Caught RuntimeError in DataLoader worker process 0.\n'
            'Original Traceback (most recent call last):\n'
            f'  File "{source}", line {lineno}, in prepare_data\n'
            '    raise RuntimeError(\n'
            'RuntimeError: list.txt, line 3 (image "a.jpg", depth "a.png"):'
            ' ValueError: depth map "a.png" is uint8, expected uint16\n')
    assert user_error_message(RuntimeError(text)) == (
        'RuntimeError: list.txt, line 3 (image "a.jpg", depth "a.png"): '
        'ValueError: depth map "a.png" is uint8, expected uint16')


def test_run_tool_exit_codes(capsys, monkeypatch):
    monkeypatch.delenv('VPD_DEBUG', raising=False)

    def ok(argv):
        assert argv == ['a']  # --debug is taken out
        return 0

    with pytest.raises(SystemExit) as err:
        run_tool(ok, ['a', '--debug'])
    assert err.value.code == 0

    def user_error(argv):
        raise ValueError('bad "x.png": expected uint16')

    # raised from a test file (not project code): the traceback is kept
    with pytest.raises(ValueError):
        run_tool(user_error, [])
    monkeypatch.setenv('VPD_DEBUG', '1')
    with pytest.raises(OSError):
        handle_tool_error(OSError(errno.ENOSPC, 'full'))
    monkeypatch.delenv('VPD_DEBUG')
    with pytest.raises(SystemExit) as err:
        handle_tool_error(OSError(errno.ENOSPC, 'full'))
    assert err.value.code == 2
    assert capsys.readouterr().err.startswith(
        'error: OSError: [Errno 28] full (--debug or VPD_DEBUG=1')


def test_light_tools_report_in_one_line(tmp_path, capsys, monkeypatch):
    """tools/dataset_converters/*.py import vpd only to report an error."""
    import runpy
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    script = osp.join(root, 'tools', 'dataset_converters', 'nyu.py')
    monkeypatch.setattr(sys, 'argv', [script, str(tmp_path / 'no.mat'),
                                      str(tmp_path / 'no_splits.mat'),
                                      '-o', str(tmp_path / 'out')])
    monkeypatch.delenv('VPD_DEBUG', raising=False)
    with pytest.raises(SystemExit) as err:
        runpy.run_path(script, run_name='__main__')
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ')
    assert 'no' in lines[0] and '.mat' in lines[0]
