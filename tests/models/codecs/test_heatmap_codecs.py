"""UDP / MSRA heatmap codecs: encode -> decode round trip, weights, flip."""
import numpy as np
import pytest
import torch

from vpd.registry import TASK_UTILS

CODECS = [
    dict(type='UDPHeatmap', input_size=(192, 256), heatmap_size=(48, 64),
         sigma=2),
    dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64),
         sigma=2),
]


@pytest.mark.parametrize('cfg', CODECS, ids=lambda c: c['type'])
def test_round_trip_within_a_pixel(cfg):
    """Anywhere in the crop a keypoint comes back within one heatmap pixel
    (4 crop pixels); away from the border UDP is exact (DARK finds the
    sub-pixel centre of its Gaussian), MSRA within a quarter heatmap pixel
    plus its rounding."""
    codec = TASK_UTILS.build(cfg)
    rng = np.random.default_rng(0)
    anywhere = rng.uniform([0, 0], [191, 255], size=(17, 2))
    inside = rng.uniform([24, 24], [167, 231], size=(17, 2))
    for kpts, udp_tol, msra_tol in ((anywhere, 4.0, 4.0),
                                    (inside, 0.01, 3.0)):
        kpts = kpts.astype(np.float32)
        enc = codec.encode(kpts[None], np.ones((1, 17)))
        assert enc['heatmaps'].shape == (17, 64, 48)
        assert enc['keypoint_weights'].shape == (1, 17)
        assert enc['heatmaps'].max() <= 1.0 + 1e-6
        dec, scores = codec.decode(enc['heatmaps'])
        err = np.abs(dec - kpts).max()
        tol = udp_tol if cfg['type'] == 'UDPHeatmap' else msra_tol
        assert err < tol, f'{cfg["type"]}: {err:.3f} px'
        assert scores.min() > 0.5


def test_weights_of_hidden_and_outside_keypoints():
    codec = TASK_UTILS.build(CODECS[0])
    kpts = np.array([[50, 60], [60, 70], [-100, 50], [400, 500]], np.float32)
    vis = np.array([1, 0, 1, 1], np.float32)
    enc = codec.encode(kpts, vis)
    np.testing.assert_array_equal(enc['keypoint_weights'][0], [1, 0, 0, 0])
    assert enc['heatmaps'][0].max() > 0.9
    assert not enc['heatmaps'][1:].any()


@pytest.mark.parametrize('cfg', CODECS, ids=lambda c: c['type'])
def test_flip_back_mirrors_a_keypoint(cfg):
    """A keypoint at x, mirrored in the crop (w - 1 - x) and flipped back,
    decodes to x again (UDP exactly; MSRA with its one-pixel shift within
    a crop pixel or so)."""
    codec = TASK_UTILS.build(cfg)
    x, y = 70.3, 101.6
    mirrored = np.array([[191 - x, y], [20.0, 30.0]], np.float32)
    hm = torch.from_numpy(codec.encode(mirrored)['heatmaps'])[None]
    back = codec.flip_back(hm, [1, 0])  # channel 0 <-> 1
    dec, _ = codec.decode(back[0].numpy())
    tol = 0.05 if cfg['type'] == 'UDPHeatmap' else 2.0
    assert abs(dec[1, 0] - x) < tol and abs(dec[1, 1] - y) < tol


def test_bad_arguments():
    with pytest.raises(ValueError, match='input_size'):
        TASK_UTILS.build(dict(type='UDPHeatmap', input_size=(1, ),
                              heatmap_size=(48, 64)))
    codec = TASK_UTILS.build(CODECS[0])
    with pytest.raises(ValueError, match='heatmap_size'):
        codec.decode(np.zeros((17, 32, 32), np.float32))
    with pytest.raises(ValueError, match='flip_indices'):
        codec.flip_back(torch.zeros(1, 17, 64, 48), [0, 1])
