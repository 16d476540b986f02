"""tools/inference.py on a real user's folder (issue 12 §3, issue 14):
unreadable files skipped and counted, same-stem inputs kept apart, colour
bar / fixed range, raw depth that never clips (case bugrep-04), explicit
depth class, point clouds."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from _tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'quickstart',
                  'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """A checkpoint of the tiny VPD depth config (random weights)."""
    from vpd.apis import init_model
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    torch.save({'state_dict': init_model(CONFIG).state_dict()}, path)
    return path


def test_folder_with_a_bad_file_and_same_stems(ckpt, tmp_path, capsys):
    """One unreadable file is skipped with a warning and counted (exit 1);
    a.jpg / a.png both get their pictures; the depth picture carries a
    colour bar, and --vmin/--vmax fix its range."""
    tool = load_tool('inference')
    imgs = tmp_path / 'imgs'
    imgs.mkdir()
    rng = np.random.RandomState(0)
    cv2.imwrite(str(imgs / 'a.jpg'), rng.randint(0, 256, (24, 32, 3),
                                                 np.uint8))
    cv2.imwrite(str(imgs / 'a.png'), rng.randint(0, 256, (20, 28, 3),
                                                 np.uint8))
    (imgs / 'broken.png').write_bytes(b'not a png')
    out = tmp_path / 'out'
    status = tool.main([CONFIG, ckpt, str(imgs), '--out-dir', str(out),
                        '--vmin', '0', '--vmax', '10'])
    captured = capsys.readouterr()
    assert status == 1
    assert 'skipped' in captured.err and 'broken.png' in captured.err
    assert 'done: 2 image(s)' in captured.out and '1 skipped' in \
        captured.out
    first = cv2.imread(str(out / 'a_depth.png'))
    second = cv2.imread(str(out / 'a_png_depth.png'))
    assert first is not None and second is not None
    # the colour bar: enlarged to 256 px high (integer factor), bar right
    assert first.shape[0] == 24 * 11 and first.shape[1] > 32 * 11
    assert second.shape[0] == 20 * 13
    # without the bar: the input's size
    assert tool.main([CONFIG, ckpt, str(imgs / 'a.jpg'), '--out-dir',
                      str(tmp_path / 'plain'), '--no-colorbar']) == 0
    assert cv2.imread(str(tmp_path / 'plain' / 'a_depth.png')).shape == \
        (24, 32, 3)


def test_bugrep04_raw_depth_beyond_65m(ckpt, tmp_path, capsys):
    """bugrep-04: with max_depth=150 the model predicts about 75 m; the raw
    file must hold it (KITTI's metres x 256 PNG, with a sidecar JSON), not
    65.535 m. float32 TIFF / npy keep it exactly."""
    tool = load_tool('inference')
    img = tmp_path / 'frame.png'
    y, x = np.mgrid[0:44, 0:152]  # bugrep-04's pattern, smaller
    cv2.imwrite(str(img), np.stack([x % 256, (y * 2) % 256,
                                    ((x + y) // 3) % 256], -1)
                .astype(np.uint8))
    opts = ['--cfg-options', 'model.decode_head.max_depth=150']
    out = tmp_path / 'out'
    assert tool.main([CONFIG, ckpt, str(img), '--out-dir', str(out),
                      '--save-raw', *opts]) == 0
    line = capsys.readouterr().out
    png = out / 'frame_depth_x256.png'
    raw = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (44, 152)
    side = json.loads((out / 'frame_depth_x256.png.json').read_text())
    assert side['unit'] == 'm' and side['scale'] == 256
    metres = raw / side['scale']
    assert metres.min() > 65.6 and raw.max() < 65535  # not clipped
    lo, hi = (float(v) for v in line.split('depth ')[1].split(' m')[0]
              .split('..'))
    assert abs(metres.min() - lo) < 0.01 and abs(metres.max() - hi) < 0.01
    for fmt, name in (('tiff', 'frame_depth_m.tiff'),
                      ('npy', 'frame_depth_m.npy')):
        assert tool.main([CONFIG, ckpt, str(img), '--out-dir', str(out),
                          '--save-raw', '--raw-format', fmt, *opts]) == 0
        path = str(out / name)
        arr = np.load(path) if fmt == 'npy' else cv2.imread(
            path, cv2.IMREAD_UNCHANGED)
        assert arr.dtype == np.float32 and arr.shape == (44, 152)
        np.testing.assert_allclose(arr, metres, atol=1 / 256)
        assert json.loads(open(path + '.json').read())['scale'] == 1
    # a NYU-range model keeps millimetres
    assert tool.main([CONFIG, ckpt, str(img), '--out-dir', str(out),
                      '--save-raw']) == 0
    mm = cv2.imread(str(out / 'frame_depth_mm.png'), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16 and 0 < mm.max() <= 10000


def test_class_name_and_point_cloud(tmp_path):
    """--class-name picks the embedding (as a path naming the class does);
    --save-ply writes a PLY with one point per pixel."""
    import sys

    from plyfile import PlyData

    from vpd.apis import init_model
    sys.path.insert(0, osp.join(ROOT, 'tests', 'models', 'converters'))
    from tiny_models import randomize_
    ckpt = str(tmp_path / 'spread.pth')  # weights whose output varies
    torch.save({'state_dict': randomize_(init_model(CONFIG), 0)
                .state_dict()}, ckpt)
    tool = load_tool('inference')
    rng = np.random.RandomState(1)
    img = rng.randint(0, 256, (16, 20, 3), np.uint8)
    cv2.imwrite(str(tmp_path / 'photo.png'), img)
    cv2.imwrite(str(tmp_path / 'kitchen_0001_00001.png'), img)
    out = tmp_path / 'out'
    for name, extra in (('photo', ['--class-name', 'kitchen']),
                        ('kitchen_0001_00001', [])):
        assert tool.main([CONFIG, ckpt, str(tmp_path / f'{name}.png'),
                          '--out-dir', str(out), '--save-raw', '--raw-format',
                          'npy', '--save-ply', *extra]) == 0
    kitchen = np.load(out / 'photo_depth_m.npy')
    np.testing.assert_allclose(
        kitchen, np.load(out / 'kitchen_0001_00001_depth_m.npy'))
    assert tool.main([CONFIG, ckpt, str(tmp_path / 'photo.png'), '--out-dir',
                      str(tmp_path / 'mean'), '--save-raw', '--raw-format',
                      'npy']) == 0  # no class: the mean embedding
    assert not np.allclose(
        np.load(tmp_path / 'mean' / 'photo_depth_m.npy'), kitchen)
    ply = PlyData.read(str(out / 'photo.ply'))
    v = ply['vertex']
    assert len(v) == 16 * 20
    assert {'x', 'y', 'z', 'red', 'green', 'blue'} <= set(
        v.data.dtype.names)
    with pytest.raises(ValueError, match='unknown class name'):
        tool.main([CONFIG, ckpt, str(tmp_path / 'photo.png'), '--out-dir',
                   str(out), '--class-name', 'garage'])


def test_demo_uses_the_checked_cfg_options():
    """tools/demo.py parses --cfg-options as every tool does (one clear
    error for a malformed item)."""
    demo = load_tool('demo')
    args = demo.parse_args([CONFIG, 'ckpt', '--cfg-options',
                            'model.decode_head.max_depth=20'])
    assert args.cfg_options == {'model.decode_head.max_depth': 20}
    with pytest.raises(SystemExit):
        demo.parse_args([CONFIG, 'ckpt', '--cfg-options', 'a:1'])
