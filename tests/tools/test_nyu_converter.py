"""tools/dataset_converters/nyu.py on a tiny generated .mat pair."""

import cv2
import h5py
import numpy as np
import pytest
import scipy.io

from _tools import load_tool  # noqa: E402

from vpd.datasets import NYUDepthDataset

N, H, W = 5, 20, 24
SCENES = ['kitchen', 'bathroom', 'kitchen', 'bedroom', 'office']


nyu = load_tool('dataset_converters', 'nyu')


def _write_mat(path, keys=('images', 'depths', 'rawDepths', 'sceneTypes')):
    """MATLAB v7.3 layout as h5py sees it (arrays transposed)."""
    yy, xx = np.mgrid[0:H, 0:W]
    images = np.zeros((N, H, W, 3), np.uint8)  # natural H, W, C layout
    raw = np.zeros((N, H, W), np.float32)
    for i in range(N):
        images[i, ..., 0] = 40 * i + 2 * xx  # smooth: JPEG keeps it
        images[i, ..., 1] = 5 * yy
        images[i, ..., 2] = 100
        raw[i] = 0.5 + 0.25 * i + 0.01234 * xx + 0.1 * yy
    raw[:, 0, 0] = 0  # a hole in the raw depth
    with h5py.File(path, 'w') as f:
        if 'images' in keys:
            f['images'] = images.transpose(0, 3, 2, 1)  # N, 3, W, H
        if 'depths' in keys:
            f['depths'] = (raw + 1).transpose(0, 2, 1)
        if 'rawDepths' in keys:
            f['rawDepths'] = raw.transpose(0, 2, 1)  # N, W, H
        if 'sceneTypes' in keys:
            refs = f.create_group('#refs#')
            ref_arr = np.empty((1, N), dtype=h5py.ref_dtype)
            for i, scene in enumerate(SCENES):
                chars = np.array([[ord(c)] for c in scene], np.uint16)
                ref_arr[0, i] = refs.create_dataset(f's{i}', data=chars).ref
            f.create_dataset('sceneTypes', data=ref_arr)
    return images, raw


@pytest.fixture
def mat_pair(tmp_path):
    mat = tmp_path / 'nyu_depth_v2_labeled.mat'
    images, raw = _write_mat(str(mat))
    splits = tmp_path / 'splits.mat'
    scipy.io.savemat(
        str(splits),
        dict(testNdxs=np.array([[2], [4], [5]]),
             trainNdxs=np.array([[1], [3]])))
    return str(mat), str(splits), images, raw


def test_extract_test_split(mat_pair, tmp_path):
    mat, splits, images, raw = mat_pair
    out = tmp_path / 'out'
    written = nyu.main([mat, splits, '-o', str(out), '--no-progress',
                        '--no-black-border'])
    list_path = out / 'test_list.txt'
    assert written == {'test': str(list_path)}
    # test indices 2, 4, 5 (1-based) -> files numbered 1, 3, 4 (0-based)
    assert list_path.read_text().splitlines() == [
        '/bathroom/rgb_00001.jpg /bathroom/sync_depth_00001.png',
        '/bedroom/rgb_00003.jpg /bedroom/sync_depth_00003.png',
        '/office/rgb_00004.jpg /office/sync_depth_00004.png',
    ]
    test_dir = out / 'official_splits' / 'test'
    for i, scene in ((1, 'bathroom'), (3, 'bedroom'), (4, 'office')):
        depth = cv2.imread(
            str(test_dir / scene / f'sync_depth_{i:05d}.png'),
            cv2.IMREAD_UNCHANGED)
        assert depth.dtype == np.uint16 and depth.shape == (H, W)
        expected = (raw[i].astype(np.float64) * 1000).astype(np.uint16)
        np.testing.assert_array_equal(depth, expected)  # truncated mm
        assert depth[0, 0] == 0
        rgb = cv2.imread(str(test_dir / scene / f'rgb_{i:05d}.jpg'))[..., ::-1]
        assert rgb.shape == (H, W, 3)
        assert np.abs(rgb.astype(int) - images[i]).mean() < 3
    assert not (out / 'official_splits' / 'train').exists()
    # the dataset reads what the converter wrote
    ds = NYUDepthDataset(
        data_root=str(out),
        ann_file='test_list.txt',
        data_prefix=dict(
            img_path='official_splits/test',
            depth_map_path='official_splits/test'))
    assert len(ds) == 3


def test_black_border_and_in_painted_depth(mat_pair, tmp_path):
    mat, splits, _, raw = mat_pair
    out = tmp_path / 'out'
    nyu.convert_nyu(mat, splits, str(out), splits=('test', 'train'),
                    depth_key='depths', show_progress=False)
    rgb = cv2.imread(str(out / 'official_splits/test/bathroom/rgb_00001.jpg'))
    assert rgb[:5].max() <= 8 and rgb[:, :5].max() <= 8  # black border
    assert rgb[10, 10].max() > 50
    depth = cv2.imread(
        str(out / 'official_splits/train/kitchen/sync_depth_00002.png'),
        cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(
        depth, ((raw[2] + 1).astype(np.float64) * 1000).astype(np.uint16))
    assert (out / 'official_train_list.txt').read_text().splitlines() == [
        '/kitchen/rgb_00000.jpg /kitchen/sync_depth_00000.png',
        '/kitchen/rgb_00002.jpg /kitchen/sync_depth_00002.png',
    ]


def test_missing_files(mat_pair, tmp_path):
    mat, splits, _, _ = mat_pair
    with pytest.raises(FileNotFoundError, match='nope.mat'):
        nyu.convert_nyu(str(tmp_path / 'nope.mat'), splits, str(tmp_path),
                        show_progress=False)
    with pytest.raises(FileNotFoundError, match='nosplits.mat'):
        nyu.convert_nyu(mat, str(tmp_path / 'nosplits.mat'), str(tmp_path),
                        show_progress=False)


def test_missing_keys(mat_pair, tmp_path):
    mat, splits, _, _ = mat_pair
    bad_splits = tmp_path / 'bad_splits.mat'
    scipy.io.savemat(str(bad_splits), dict(trainNdxs=np.array([[1]])))
    with pytest.raises(KeyError, match='bad_splits.mat.*testNdxs'):
        nyu.convert_nyu(mat, str(bad_splits), str(tmp_path / 'o'),
                        show_progress=False)
    bad_mat = tmp_path / 'bad.mat'
    _write_mat(str(bad_mat), keys=('images', 'depths', 'sceneTypes'))
    with pytest.raises(KeyError, match='bad.mat.*rawDepths'):
        nyu.convert_nyu(str(bad_mat), splits, str(tmp_path / 'o'),
                        show_progress=False)


def test_not_hdf5_and_bad_indices(mat_pair, tmp_path):
    mat, splits, _, _ = mat_pair
    fake = tmp_path / 'fake.mat'
    fake.write_bytes(b'MATLAB 5.0 MAT-file, not hdf5')
    with pytest.raises(ValueError, match='fake.mat.*v7.3'):
        nyu.convert_nyu(str(fake), splits, str(tmp_path / 'o'),
                        show_progress=False)
    far = tmp_path / 'far.mat'
    scipy.io.savemat(str(far), dict(testNdxs=np.array([[1], [99]])))
    with pytest.raises(ValueError, match=r'far.mat.*\[99\]'):
        nyu.convert_nyu(mat, str(far), str(tmp_path / 'o'),
                        show_progress=False)


def test_progress_bar_runs(mat_pair, tmp_path, capsys):
    mat, splits, _, _ = mat_pair
    nyu.main([mat, splits, '-o', str(tmp_path / 'o')])
    assert '3/3' in capsys.readouterr().out
