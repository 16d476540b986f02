"""Tests of tools/misc/make_class_embeddings.py with a tiny random CLIP."""
import os

os.environ['HF_HUB_OFFLINE'] = '1'  # noqa: E402 - before transformers loads

import subprocess
import sys

import pytest
import torch

from _tools import load_tool  # noqa: E402  (tests/ is on sys.path)

pytest.importorskip('transformers')
pytest.importorskip('open_clip')

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, 'tools', 'misc', 'make_class_embeddings.py')
WIDTH = 32


tool = load_tool('misc', 'make_class_embeddings')


@pytest.fixture(scope='module')
def clip_dir(tmp_path_factory):
    """A tiny random CLIPTextModel folder (no tokenizer files)."""
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CLIPTextConfig(hidden_size=WIDTH, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2,
                         vocab_size=49408, max_position_embeddings=77,
                         eos_token_id=49407)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('cli') / 'tiny_clip_text'
    CLIPTextModel(cfg).save_pretrained(str(path))
    return str(path)


def test_cli_nyu_seg_writes_loadable_file(clip_dir, tmp_path,
                                                   capsys):
    out = tmp_path / 'sub' / 'nyu_class_embeddings.pth'
    args = ['--clip', clip_dir, '--classes', 'nyu', '--out', str(out),
            '--mode', 'seg', '--batch-size', '8']
    assert tool.main(args) == 0
    emb = torch.load(str(out), weights_only=True)
    assert isinstance(emb, torch.Tensor)
    assert emb.shape == (27, WIDTH) and emb.dtype == torch.float32
    printed = capsys.readouterr().out
    assert '[27, 32]' in printed and str(out) in printed
    # no temporary file left behind, and the file is world-readable
    assert sorted(os.listdir(out.parent)) == [out.name]
    assert os.stat(out).st_mode & 0o044


def test_cli_depth_class_file_matches_library(clip_dir, tmp_path):
    from vpd.utils.clip_text import (build_class_embeddings,
                                     load_clip_text_encoder)
    names = tmp_path / 'names.txt'
    names.write_text('living_room\n\nbookstore\n', encoding='utf-8')
    out = tmp_path / 'emb.pth'
    out.write_bytes(b'old content, replaced atomically')
    assert tool.main(['--clip', clip_dir, '--class-file', str(names),
                      '--mode', 'depth', '--out', str(out),
                      '--no-progress']) == 0
    emb = torch.load(str(out), weights_only=True)
    model, tok = load_clip_text_encoder(clip_dir)
    expected = build_class_embeddings(['living_room', 'bookstore'], model,
                                      tok, mode='depth')
    assert emb.shape == (2, WIDTH)
    torch.testing.assert_close(emb, expected)


def test_parse_args_defaults_and_errors(tmp_path):
    args = tool.parse_args(['--clip', 'x', '--classes', 'nyu', '--out',
                            'o.pth'])
    assert args.mode == 'depth' and args.batch_size == 64
    assert args.device == 'cpu'
    args = tool.parse_args(['--clip', 'x', '--classes', 'ade20k', '--out',
                            'o.pth'])
    assert args.mode == 'seg'
    for bad in (['--clip', 'x', '--out', 'o.pth'],  # no class source
                ['--clip', 'x', '--classes', 'nyu', '--class-file', 'n.txt',
                 '--out', 'o.pth'],
                ['--clip', 'x', '--classes', 'nyu', '--out', 'o.pth',
                 '--batch-size', '0'],
                ['--clip', 'x', '--classes', 'nyu', '--out', str(tmp_path)]):
        with pytest.raises(SystemExit) as err:
            tool.parse_args(bad)
        assert err.value.code == 2


def test_cli_missing_clip_path_subprocess(tmp_path):
    missing = str(tmp_path / 'no_such_clip')
    out = tmp_path / 'emb.pth'
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    proc = subprocess.run(
        [sys.executable, SCRIPT, '--clip', missing, '--classes', 'nyu',
         '--out', str(out)], capture_output=True, text=True, env=env,
        cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert missing in proc.stderr and 'does not exist' in proc.stderr
    assert 'config.json' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not out.exists()


def test_cli_hub_id_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='model-hub id'):
        tool.main(['--clip', 'openai/clip-vit-large-patch14', '--classes',
                   'nyu', '--out', str(tmp_path / 'emb.pth')])
    assert not (tmp_path / 'emb.pth').exists()
