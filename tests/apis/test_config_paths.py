"""data/... and checkpoints/... in configs work from any folder."""
import os.path as osp

from mmengine.config import Config

from vpd.apis import resolve_config_paths


def test_repository_cache_and_local_paths(tmp_path):
    root, cwd, cache = (tmp_path / 'repo', tmp_path / 'elsewhere',
                        tmp_path / 'cache')
    for d in (root / 'data' / 'nyu', cwd / 'data' / 'mine', cache):
        d.mkdir(parents=True)
    (cache / 'v1-5-pruned-emaonly.ckpt').write_bytes(b'x')
    cfg = Config(dict(
        data_root='data/nyu',
        model=dict(backbone=dict(
            pretrained='checkpoints/v1-5-pruned-emaonly.ckpt')),
        train_dataloader=dict(dataset=dict(data_root='data/mine')),
        val_dataloader=dict(dataset=dict(data_root='data/not_there')),
        other=['checkpoints/missing.pth', 'database/x', 'data', 5]))
    changes = dict(resolve_config_paths(cfg, str(root), cwd=str(cwd),
                                        cache_dir=str(cache)))
    # not in the current folder: the repository root's
    assert cfg.data_root == osp.join(str(root), 'data/nyu')
    # a download in the cache is found
    assert cfg.model.backbone.pretrained == str(
        cache / 'v1-5-pruned-emaonly.ckpt')
    # your own data/ next to where you run wins
    assert cfg.train_dataloader.dataset.data_root == 'data/mine'
    # missing everywhere: the repository path, so the error names it
    assert cfg.val_dataloader.dataset.data_root == osp.join(
        str(root), 'data/not_there')
    assert cfg.other == [osp.join(str(root), 'checkpoints/missing.pth'),
                         'database/x', 'data', 5]
    assert len(changes) == 4
    # from the repository root nothing changes but the cache lookup
    cfg = Config(dict(a='data/nyu', b='checkpoints/v1-5-pruned-emaonly.ckpt'))
    resolve_config_paths(cfg, str(root), cwd=str(root), cache_dir=str(cache))
    assert cfg.a == 'data/nyu'
    assert cfg.b == str(cache / 'v1-5-pruned-emaonly.ckpt')


def test_missing_weights_error_names_the_download_command():
    import pytest

    from vpd.models.backbones.sd_weights import build_sd_models
    with pytest.raises(FileNotFoundError,
                       match='python tools/download.py sd-v1-5'):
        build_sd_models('tiny', 'tiny',
                        '/nowhere/checkpoints/v1-5-pruned-emaonly.ckpt')
