"""README "Other backbones": the documented commands, on the tiny UNet.

The ``tools/train.py`` lines of the section run as written (one iteration,
a smaller synthetic set, in a folder laid out as the README's), and a
released checkpoint of a non-preset architecture goes through the
converter and the ``tools/test.py`` command it prints, unchanged.
"""
import os.path as osp
import shlex
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
sys.path.insert(0, osp.join(ROOT, 'tests', 'models', 'converters'))

from tiny_models import randomize_  # noqa: E402

VPD_DEPTH = 'configs/quickstart/vpd_tiny_1xb8-150_synthetic-depth-96x128.py'


def _section():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    start = text.index('## Other backbones')
    return text[start:text.index('\n## ', start + 1)]


TRAIN_LINES = [line for line in _section().splitlines()
               if line.startswith('python tools/train.py configs/')]
TINY_SD_LINES = [line for line in _section().splitlines()
                 if line.startswith('python tools/misc/make_tiny_sd.py ')]


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A folder with the README's data/ and checkpoints/ (small)."""
    from make_synthetic_depth import make_synthetic_depth

    from _tools import load_tool
    root = tmp_path_factory.mktemp('other_backbones')
    make_synthetic_depth(str(root / 'data' / 'synthetic_nyu'), num_train=2,
                         num_test=1, height=64, width=64, seed=0)
    # the README's own command for the tiny weights
    assert len(TINY_SD_LINES) == 1
    args = shlex.split(TINY_SD_LINES[0])[2:]
    args[0] = str(root / args[0])
    assert load_tool('misc', 'make_tiny_sd').main(args) == 0
    assert osp.isfile(root / 'checkpoints' / 'tiny_sd_pooling_vae.ckpt')
    return root


def test_readme_lists_the_three_cases():
    assert len(TRAIN_LINES) == 3
    assert 'model.backbone.pretrained=' in TRAIN_LINES[0]
    assert 'cross_attention_dim=64' in TRAIN_LINES[1]
    assert 'block_out_channels=' in TRAIN_LINES[2]


@pytest.mark.parametrize('line', TRAIN_LINES, ids=['finetune', 'sd21-like',
                                                    'custom-width'])
def test_readme_train_command_runs(line, workspace, monkeypatch):
    import train as train_tool
    monkeypatch.chdir(workspace)
    args = shlex.split(line)[2:]
    args[0] = osp.join(ROOT, args[0])
    work = str(workspace / f'work_{abs(hash(line))}')
    runner = train_tool.main(
        args[:1] + ['--work-dir', work] + args[1:] + [
            'train_cfg.max_iters=1', 'train_dataloader.batch_size=2',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_cfg=None',
            'val_dataloader=None', 'val_evaluator=None'
        ])
    assert osp.isfile(osp.join(work, 'iter_1.pth'))
    model = runner.model
    if 'pretrained=checkpoints/' in line:  # the fine-tune's pooling VAE
        conv2 = model.backbone.vae.encoder.down_blocks[0].resnets[0].conv2
        assert conv2.weight.abs().sum() == 0
    elif 'cross_attention_dim=64' in line:
        assert model.backbone.context_dim == 64
        assert model.conditioner.class_embeddings.shape[1] == 64
    else:
        assert model.backbone.out_channels == [64, 64, 128, 128]
        assert model.neck.in_channels == [64, 64, 128, 128]
        assert model.conditioner.time_embed_dim == 256


def test_converted_non_preset_checkpoint_runs_as_printed(workspace,
                                                         monkeypatch,
                                                         capsys):
    """An official-layout VPD depth checkpoint whose UNet is SD 2.1-like
    (cross-attention 64, linear projections) converts with the unchanged
    tiny config; the printed tools/test.py command runs as printed; the
    official file given to init_model directly gives the same outputs."""
    import official_to_vpd
    import test as test_tool

    from vpd.apis import init_model
    from vpd.models.converters import CheckpointConfigWarning, to_official
    from vpd.registry import MODELS
    monkeypatch.chdir(workspace)
    config = osp.join(ROOT, VPD_DEPTH)
    cfg = Config.fromfile(config)
    cfg.model.backbone.unet.update(cross_attention_dim=64,
                                   use_linear_projection=True)
    torch.manual_seed(0)
    source = randomize_(MODELS.build(cfg.model).eval(), 1)
    src = str(workspace / 'vpd_depth_sd21like.pth')
    torch.save({'model': to_official(source, 'vpd-depth')['model']}, src)
    dst = str(workspace / 'converted.safetensors')

    assert official_to_vpd.main([config, src, dst]) == 0
    out = capsys.readouterr().out
    assert 'cross_attention_dim: 32 -> 64' in out
    printed = [line.split('evaluate it with: ', 1)[1]
               for line in out.splitlines() if 'evaluate it with: ' in line]
    assert printed == [f'python tools/test.py {config} {dst}']
    with pytest.warns(CheckpointConfigWarning, match='stored in the chec'):
        metrics = test_tool.main(shlex.split(printed[0])[2:])
    assert np.isfinite(metrics['rmse'])

    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with pytest.warns(CheckpointConfigWarning, match='use_linear_projection'):
        direct = init_model(config, src)
    with torch.no_grad():
        torch.testing.assert_close(direct(x, mode='tensor'),
                                   source(x, mode='tensor'), rtol=0, atol=0)
