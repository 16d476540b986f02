"""tools/model_converters/official_to_vpd.py, vpd.apis and tools/inference.py.

A tiny official-layout VPD depth checkpoint (written with ``to_official``;
the layout itself is checked in tests/models/converters) goes through the
command-line converter into ``.pth`` and ``.safetensors`` files that
``init_model`` and ``tools/test.py`` load strictly.
"""
import contextlib
import http.server
import os
import os.path as osp
import sys
import threading

import numpy as np
import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
sys.path.insert(0, osp.join(ROOT, 'tests', 'models', 'converters'))

from tiny_models import (K, build, randomize_, vpd_depth_cfg,  # noqa: E402
                         vpd_seg_cfg)

from vpd.models.converters import to_official  # noqa: E402
from vpd.utils.checkpoint import load_checkpoint_file  # noqa: E402

QUICKSTART = osp.join(ROOT, 'configs', 'quickstart',
                      'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')


@pytest.fixture(scope='module')
def official(tmp_path_factory):
    """A tiny randomised VPD depth model, its config file and its weights in
    the official ``{'model': {'module.' + key: ...}, 'epoch': ...}`` file."""
    folder = tmp_path_factory.mktemp('official')
    model = randomize_(build(vpd_depth_cfg(), 0), 1)
    cfg = Config.fromfile(QUICKSTART)
    cfg.model = Config(dict(model=vpd_depth_cfg())).model
    config = str(folder / 'tiny_vpd_depth.py')
    cfg.dump(config)
    state = to_official(model, 'vpd-depth')['model']
    src = str(folder / 'vpd_depth_official.pth')
    torch.save({'model': {'module.' + k: v for k, v in state.items()},
                'epoch': 24, 'optimizer': {}}, src)
    return dict(model=model, config=config, src=src, folder=folder)


@contextlib.contextmanager
def _serve(folder, monkeypatch):
    """Serve ``folder`` on 127.0.0.1 (no proxy); yields the base URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=folder, **kwargs)

        def log_message(self, *args):
            pass

    for var in ('http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('no_proxy', '127.0.0.1')
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()


def _x():
    return torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(
        0)) * 2 - 1


def _same_weights(model, state):
    ours = model.state_dict()
    return ours.keys() == state.keys() and all(
        torch.equal(ours[k], state[k]) for k in ours)


@pytest.mark.parametrize('ext', ['pth', 'safetensors'])
def test_cli_converts_and_init_model_loads(official, tmp_path, ext, capsys):
    import official_to_vpd

    from vpd.apis import init_model
    dst = str(tmp_path / f'converted.{ext}')
    assert official_to_vpd.main(
        [official['config'], official['src'], dst, '--source', 'vpd']) == 0
    log = capsys.readouterr().out
    assert 'source format: vpd-depth' in log and 'post_quant_conv' in log
    saved = load_checkpoint_file(dst)
    if ext == 'pth':
        assert saved['meta']['source_format'] == 'vpd-depth'
        saved = saved['state_dict']
    assert _same_weights(official['model'], saved)
    model = init_model(official['config'], dst)
    with torch.no_grad():
        assert torch.equal(model(_x(), mode='tensor'),
                           official['model'](_x(), mode='tensor'))


def test_cli_strict_error_keeps_existing_output(official, tmp_path, capsys):
    import official_to_vpd
    ckpt = load_checkpoint_file(official['src'])
    ckpt['model']['module.encoder.extra.weight'] = torch.zeros(2)
    src = str(tmp_path / 'bad.pth')
    torch.save(ckpt, src)
    dst = tmp_path / 'out.pth'
    dst.write_bytes(b'previous')
    assert official_to_vpd.main([official['config'], src, str(dst)]) == 1
    err = capsys.readouterr().err
    assert 'encoder.extra.weight' in err and 'unexpected' in err
    assert dst.read_bytes() == b'previous'


class _Payload:

    def __reduce__(self):
        return (os.system, ('true', ))


def test_cli_refuses_code_in_pickles(official, tmp_path, capsys):
    import official_to_vpd
    src = str(tmp_path / 'evil.pth')
    torch.save({'model': {}, 'x': _Payload()}, src)
    assert official_to_vpd.main([official['config'], src,
                                 str(tmp_path / 'o.pth')]) == 1
    assert 'Refused' in capsys.readouterr().err
    assert not osp.exists(tmp_path / 'o.pth')


def test_cli_lists_formats(capsys):
    import official_to_vpd
    assert official_to_vpd.main(['--list-formats']) == 0
    out = capsys.readouterr().out
    for name in ('vpd-depth', 'vpd-seg', 'vpd-refer', 'metaprompts-depth',
                 'metaprompts-seg', 'mmseg-vpd-depth'):
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        assert ' supported: ' in line, line


def test_init_model_zoo_name_and_url(official, tmp_path, monkeypatch):
    """A zoo name whose file is in the cache and a URL (downloaded from a
    local server) both load, converting the official layout on the fly."""
    from vpd.apis import init_model
    from vpd.utils import model_zoo
    cache = tmp_path / 'cache'
    cache.mkdir()
    os.link(official['src'], cache / 'tiny_vpd.pth')
    monkeypatch.setenv('VPD_CACHE_DIR', str(cache))
    monkeypatch.setitem(model_zoo.MODEL_ZOO, 'tiny-vpd-depth', dict(
        url=None, sha256=None, filename='tiny_vpd.pth', format='vpd-depth',
        config=None))
    model = init_model(official['config'], 'tiny-vpd-depth')
    assert _same_weights(model, official['model'].state_dict())

    with _serve(osp.dirname(official['src']), monkeypatch) as base:
        model = init_model(official['config'],
                           f'{base}/{osp.basename(official["src"])}')
    assert osp.isfile(cache / osp.basename(official['src']))
    assert _same_weights(model, official['model'].state_dict())


def test_init_model_error_lists_keys(official, tmp_path):
    from vpd.apis import init_model
    from vpd.models.converters import ConversionError
    state = dict(official['model'].state_dict())
    del state['neck.layer2.0.bias']
    state['neck.surplus'] = torch.zeros(1)
    path = str(tmp_path / 'ours.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(ConversionError) as err:
        init_model(official['config'], path)
    assert 'neck.layer2.0.bias' in str(err.value)
    assert 'neck.surplus' in str(err.value)


def _write_image(path, h=40, w=56):
    import cv2
    rng = np.random.RandomState(0)
    cv2.imwrite(str(path), rng.randint(0, 255, (h, w, 3), dtype=np.uint8))


def test_inference_model_on_own_images(official, tmp_path):
    import cv2

    from vpd.apis import inference_depth, inference_model, init_model
    ours = str(tmp_path / 'ours.pth')
    torch.save({'state_dict': official['model'].state_dict()}, ours)
    model = init_model(official['config'], ours)
    img = tmp_path / 'room.png'
    _write_image(img)
    sample = inference_depth(model, str(img))
    depth = sample.pred_depth_map.data
    assert depth.shape == (1, 40, 56) and (depth > 0).all()
    arr = cv2.imread(str(img))
    both = inference_model(model, [arr, str(img)])
    assert len(both) == 2
    torch.testing.assert_close(both[0].pred_depth_map.data, depth)
    # the same as the model on the normalised image (pipeline = test's)
    x = torch.from_numpy(arr[..., ::-1].copy()).permute(2, 0, 1)[None]
    with torch.no_grad():
        direct = model((x.float() - 127.5) / 127.5, mode='tensor')
    torch.testing.assert_close(depth, direct[0])


def test_tools_inference_depth_and_seg(official, tmp_path, capsys):
    import cv2
    import inference as tool
    imgs = tmp_path / 'imgs'
    imgs.mkdir()
    _write_image(imgs / 'a.png')
    _write_image(imgs / 'b.jpg', 48, 48)
    ours = str(tmp_path / 'ours.safetensors')
    from vpd.utils.checkpoint import save_checkpoint_atomic
    save_checkpoint_atomic(dict(official['model'].state_dict()), ours)
    out = tmp_path / 'out'
    assert tool.main([official['config'], ours, str(imgs), '--out-dir',
                      str(out), '--save-raw', '--no-colorbar']) == 0
    assert '2/2' in capsys.readouterr().out
    vis = cv2.imread(str(out / 'a_depth.png'))
    raw = cv2.imread(str(out / 'b_depth_mm.png'), cv2.IMREAD_UNCHANGED)
    assert vis.shape == (40, 56, 3)
    assert raw.dtype == np.uint16 and raw.shape == (48, 48)
    assert 0 < raw.max() <= 10000

    # a segmentor: overlay with the palette of the config's dataset
    seg = build(vpd_seg_cfg(), 0)
    cfg = Config(dict(
        model=vpd_seg_cfg(),
        test_pipeline=[dict(type='LoadImageFromFile'),
                       dict(type='PackSegInputs')],
        test_dataloader=dict(dataset=dict(
            type='BaseSegDataset',
            metainfo=dict(classes=[f'c{i}' for i in range(K)],
                          palette=[[i * 50, 0, 0] for i in range(K)])))))
    config = str(tmp_path / 'tiny_seg.py')
    cfg.dump(config)
    weights = str(tmp_path / 'seg.pth')
    torch.save({'state_dict': seg.state_dict()}, weights)
    assert tool.main([config, weights, str(imgs / 'a.png'), '--out-dir',
                      str(out), '--save-raw']) == 0
    overlay = cv2.imread(str(out / 'a_seg.png'))
    labels = cv2.imread(str(out / 'a_seg_labels.png'), cv2.IMREAD_UNCHANGED)
    assert overlay.shape == (40, 56, 3) and labels.shape == (40, 56)
    assert labels.max() < K


def test_tools_test_runs_a_converted_safetensors(official, tmp_path):
    """tools/test.py CONFIG DST on a converter output, without the SD
    weights or class-embedding file the config names."""
    import official_to_vpd
    import test as test_tool
    from make_synthetic_depth import make_synthetic_depth
    data = str(tmp_path / 'data')
    make_synthetic_depth(data, num_train=1, num_test=2, height=32, width=48,
                         seed=0)
    dst = str(tmp_path / 'converted.safetensors')
    assert official_to_vpd.main([official['config'], official['src'],
                                 dst]) == 0
    cfg = Config.fromfile(official['config'])
    # as a real config: SD weights and embedding file that do not exist here
    cfg.model.backbone.pretrained = str(tmp_path / 'missing-sd.ckpt')
    cfg.model.conditioner.class_embeddings = str(tmp_path / 'missing.pth')
    config = str(tmp_path / 'real_like.py')
    cfg.dump(config)
    metrics = test_tool.main([
        config, dst, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        f'test_dataloader.dataset.data_root={data}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ])
    assert np.isfinite(metrics['rmse'])


def test_download_then_convert(official, tmp_path, monkeypatch, capsys):
    """tools/download.py NAME --convert: downloads from a (local) server and
    writes this project's checkpoint, which loads strictly; a file placed
    by hand (no URL) converts too; an SD file is refused clearly."""
    import download as download_tool

    from vpd.apis import init_model
    from vpd.utils import model_zoo
    cache = tmp_path / 'cache'
    with _serve(osp.dirname(official['src']), monkeypatch) as base:
        monkeypatch.setitem(model_zoo.MODEL_ZOO, 'tiny-vpd-depth', dict(
            url=f'{base}/{osp.basename(official["src"])}', sha256=None,
            filename='tiny_vpd.pth', format='vpd-depth',
            config=official['config']))
        assert download_tool.main(
            ['tiny-vpd-depth', '--dir', str(cache), '--convert']) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out == str(cache / 'tiny_vpd_vpd.pth')
    assert osp.isfile(cache / 'tiny_vpd.pth')  # the download is kept
    model = init_model(official['config'], out)
    assert _same_weights(model, official['model'].state_dict())

    # placed by hand (Google Drive entries have no URL), --out safetensors
    hand = tmp_path / 'hand'
    hand.mkdir()
    os.link(official['src'], hand / 'by_hand.pth')
    monkeypatch.setitem(model_zoo.MODEL_ZOO, 'tiny-by-hand', dict(
        url=None, sha256=None, filename='by_hand.pth', format='vpd-depth',
        config=official['config']))
    dst = str(tmp_path / 'converted.safetensors')
    assert download_tool.main(['tiny-by-hand', '--dir', str(hand),
                               '--convert', '--out', dst]) == 0
    assert _same_weights(init_model(official['config'], dst),
                         official['model'].state_dict())

    # an SD file is not a task checkpoint
    monkeypatch.setitem(model_zoo.MODEL_ZOO, 'tiny-sd', dict(
        url=None, sha256=None, filename='by_hand.pth', format='ldm',
        config='tiny'))
    capsys.readouterr()
    assert download_tool.main(['tiny-sd', '--dir', str(hand),
                               '--convert']) == 1
    assert 'not a task checkpoint' in capsys.readouterr().err
