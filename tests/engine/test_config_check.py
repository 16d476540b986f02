"""Config keys nothing reads and malformed --cfg-options are named in one
line (cases rel-06, rel-07)."""
import argparse
import os.path as osp
import sys

import pytest

from vpd.engine.config_check import (ConfigKeyError, ConfigValueError,
                                     load_config, merge_cfg_options)
from vpd.utils.cli import CfgOptionsAction, run_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPTH = osp.join(ROOT, 'configs', 'quickstart',
                 'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')
sys.path.insert(0, osp.join(ROOT, 'tools'))


def _leaf(tmp_path, body):
    path = tmp_path / 'leaf.py'
    path.write_text(f'_base_ = [{DEPTH!r}]\n{body}\n')
    return str(path)


def test_misspelled_top_level_key_in_a_file(tmp_path):
    config = _leaf(tmp_path, 'modle = dict(decode_head=dict(channels=64))')
    with pytest.raises(ConfigKeyError) as err:
        load_config(config)
    assert '"modle"' in str(err.value) and '"model"' in str(err.value)
    assert config in str(err.value)


def test_helper_variables_and_dumped_configs_pass(tmp_path):
    config = _leaf(tmp_path, 'num_filters = [8, 8, 8]\n'
                   'model = dict(decode_head=dict(num_filters=num_filters))\n'
                   'unused_note = "kept for reference"')
    cfg = load_config(config)
    assert cfg.model.decode_head.num_filters == [8, 8, 8]
    dumped = str(tmp_path / 'dumped.py')
    cfg.dump(dumped)  # every variable becomes a plain top-level key
    assert load_config(dumped).train_pipeline == cfg.train_pipeline


@pytest.mark.parametrize('key,value,expected', [
    ('modle.decode_head.channels', 64, 'closest known key: "model"'),
    ('data_root', '/x', 'already substituted'),
    ('crop_size', (64, 64), 'changes nothing'),
])
def test_cfg_options_key_nothing_reads(key, value, expected):
    cfg = load_config(DEPTH)
    with pytest.raises(ConfigKeyError) as err:
        merge_cfg_options(cfg, {key: value})
    assert key in str(err.value) and expected in str(err.value)
    if key == 'data_root':  # where to set it instead
        assert 'train_dataloader.dataset.data_root' in str(err.value)


@pytest.mark.parametrize('key,value,expected', [
    ('train_cfg.max_iters', 'abc', 'expected an int'),
    ('train_cfg.max_iters', 1.5, 'expected an int'),
    ('optim_wrapper.optimizer.lr', 'fast', 'expected a number'),
    ('train_dataloader.persistent_workers', 'maybe', 'expected a bool'),
])
def test_cfg_options_wrong_value_type(key, value, expected):
    cfg = load_config(DEPTH)
    with pytest.raises(ConfigValueError) as err:
        merge_cfg_options(cfg, {key: value})
    assert key in str(err.value) and expected in str(err.value)


def test_cfg_options_that_fit_are_merged():
    cfg = merge_cfg_options(load_config(DEPTH), {
        'train_cfg.max_iters': 3, 'optim_wrapper.optimizer.lr': 1,
        'param_scheduler.1.end': 3, 'model.backbone.pretrained': None,
        'default_hooks.non_finite.action': 'skip', 'resume': True})
    assert cfg.train_cfg.max_iters == 3 and cfg.param_scheduler[1].end == 3
    assert cfg.default_hooks.non_finite.action == 'skip'


def _parser():
    parser = argparse.ArgumentParser(prog='train.py')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser


@pytest.mark.parametrize('argv,expected', [
    (['train_cfg.max_iters', '30'],
     "got 'train_cfg.max_iters' (write train_cfg.max_iters=30"),
    (['train_cfg.max_iters:30'],
     "got 'train_cfg.max_iters:30' (write train_cfg.max_iters=30)"),
    (['=3'], "dotted key"),
    (['x=[1,2'], 'unbalanced brackets'),
])
def test_malformed_cfg_options_name_the_item(argv, expected, capsys):
    with pytest.raises(SystemExit) as err:
        _parser().parse_args(['--cfg-options', *argv])
    assert err.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith('train.py: error: argument --cfg-options: '
                           'expected') or 'brackets' in last
    assert expected in last


def test_train_tool_prints_one_line(tmp_path, capsys, monkeypatch):
    """tools/train.py on a misspelled key: one line naming it, status 2,
    no traceback; --debug re-raises."""
    import train as train_tool
    monkeypatch.delenv('VPD_DEBUG', raising=False)
    config = _leaf(tmp_path, 'modle = dict()')
    argv = [config, '--work-dir', str(tmp_path / 'w')]
    with pytest.raises(SystemExit) as err:
        run_tool(train_tool.main, argv)
    assert err.value.code == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and out[0].startswith('error: ConfigKeyError: ')
    assert '"modle"' in out[0] and '"model"' in out[0]
    with pytest.raises(ConfigKeyError):
        run_tool(train_tool.main, argv + ['--debug'])
    with pytest.raises(SystemExit) as err:
        run_tool(train_tool.main, [DEPTH, '--cfg-options',
                                   'train_cfg.max_iters=abc'])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert 'train_cfg.max_iters' in last and 'expected an int' in last
