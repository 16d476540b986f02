"""Raw depth files: the format fits the model's range, values are never
clipped silently, a sidecar JSON states unit and scale."""
import json

import cv2
import numpy as np
import pytest

from vpd.visualization import choose_raw_depth_format, write_raw_depth


def test_format_follows_max_depth():
    assert choose_raw_depth_format(10.0) == 'png-mm'  # NYU
    assert choose_raw_depth_format(80.0) == 'png-x256'  # KITTI
    assert choose_raw_depth_format(300.0) == 'tiff'
    # a prediction past the model's range decides too
    assert choose_raw_depth_format(10.0, np.array([[70.0]])) == 'png-x256'
    assert choose_raw_depth_format(None, np.array([[1.0]])) == 'png-mm'


@pytest.mark.parametrize('fmt,suffix,scale', [
    ('png-mm', '_depth_mm.png', 1000), ('png-x256', '_depth_x256.png', 256),
    ('tiff', '_depth_m.tiff', 1), ('npy', '_depth_m.npy', 1)])
def test_round_trip_with_sidecar(tmp_path, fmt, suffix, scale):
    depth = np.linspace(0.5, 60.0, 12 * 9, dtype=np.float32).reshape(9, 12)
    path = write_raw_depth(str(tmp_path / 'x'), depth, fmt)
    assert path == str(tmp_path / f'x{suffix}')
    side = json.loads(open(path + '.json').read())
    assert side['unit'] == 'm' and side['scale'] == scale
    data = np.load(path) if fmt == 'npy' else cv2.imread(
        path, cv2.IMREAD_UNCHANGED)
    assert data.dtype == np.dtype(side['dtype'])
    np.testing.assert_allclose(data / side['scale'], depth,
                               atol=0.5 / scale + 1e-6)


def test_clipping_is_reported(tmp_path, monkeypatch):
    """Depth past what a millimetre PNG holds (65.535 m) is counted in the
    sidecar and logged, naming the float formats."""
    import mmengine.logging
    logged = []
    monkeypatch.setattr(mmengine.logging, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    depth = np.array([[10.0, 70.0], [80.0, 1.0]], np.float32)
    path = write_raw_depth(str(tmp_path / 'far'), depth, 'png-mm')
    assert json.loads(open(path + '.json').read())['clipped_pixels'] == 2
    assert len(logged) == 1 and '2 pixels' in logged[0] and 'tiff' in \
        logged[0]
    with pytest.raises(ValueError, match='raw depth format'):
        write_raw_depth(str(tmp_path / 'x'), depth, 'jpg')
