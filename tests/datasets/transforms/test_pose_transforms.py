"""Top-down pose transforms: the crop and the keypoints stay aligned."""
import numpy as np
import pytest

from vpd.registry import TRANSFORMS

FLIP = [0, 2, 1, 4, 3]


def _results(img, kpts):
    return dict(img=img, img_shape=img.shape[:2],
                bbox=np.array([[40, 30, 120, 150]], np.float32),
                keypoints=np.asarray(kpts, np.float32)[None],
                keypoints_visible=np.ones((1, len(kpts)), np.float32),
                flip_indices=FLIP)


@pytest.mark.parametrize('use_udp', [True, False])
@pytest.mark.parametrize('rotation', [0.0, 25.0])
def test_affine_moves_keypoints_with_the_image(use_udp, rotation):
    img = np.zeros((200, 160, 3), np.uint8)
    kpt = (83.0, 97.0)
    img[97, 83] = 255  # one bright pixel at the keypoint
    res = _results(img, [kpt] * 5)
    res = TRANSFORMS.build(dict(type='TopdownGetBBoxCenterScale'))(res)
    np.testing.assert_allclose(res['bbox_center'], [[80, 90]])
    np.testing.assert_allclose(res['bbox_scale'], [[100, 150]])
    res['bbox_rotation'] = np.array([rotation], np.float32)
    res = TRANSFORMS.build(
        dict(type='TopdownAffine', input_size=(96, 128),
             use_udp=use_udp))(res)
    assert res['img'].shape == (128, 96, 3)
    # aspect ratio fixed by widening: 150 * 96 / 128 = 112.5 > 100
    np.testing.assert_allclose(res['bbox_scale'], [[112.5, 150]])
    crop = res['img'][..., 0].astype(float)
    # the warp magnifies by ~0.85: the dot is spread over a pixel or two
    y, x = np.unravel_index(crop.argmax(), crop.shape)
    cx = (crop * np.arange(96)[None]).sum() / crop.sum()
    cy = (crop * np.arange(128)[:, None]).sum() / crop.sum()
    tk = res['transformed_keypoints'][0, 0]
    assert abs(cx - tk[0]) < 0.6 and abs(cy - tk[1]) < 0.6
    # warp_mat maps image -> crop; its inverse brings the keypoint back
    mat = res['warp_mat']
    inv = np.linalg.inv(mat[:, :2])
    back = inv @ (tk - mat[:, 2])
    np.testing.assert_allclose(back, kpt, atol=1e-3)


def test_flip_mirrors_and_swaps_left_right():
    img = np.zeros((50, 60, 3), np.uint8)
    img[:, :10] = 200
    kpts = [[30, 5], [10, 10], [50, 10], [12, 20], [40, 20]]
    res = _results(img, kpts)
    res['keypoints_visible'] = np.array([[1, 1, 0, 1, 1]], np.float32)
    res = TRANSFORMS.build(dict(type='TopdownGetBBoxCenterScale'))(res)
    res = TRANSFORMS.build(dict(type='TopdownRandomFlip', prob=1.0))(res)
    assert res['flip'] and res['img'][:, -10:].min() == 200
    np.testing.assert_allclose(
        res['keypoints'][0],
        [[29, 5], [9, 10], [49, 10], [19, 20], [47, 20]])
    np.testing.assert_array_equal(res['keypoints_visible'][0],
                                  [1, 0, 1, 1, 1])
    np.testing.assert_allclose(res['bbox'], [[-61, 30, 19, 150]])
    np.testing.assert_allclose(res['bbox_center'], [[-21, 90]])


def test_random_bbox_transform_and_half_body_ranges():
    np.random.seed(0)
    t = TRANSFORMS.build(dict(type='TopdownRandomBBoxTransform'))
    half = TRANSFORMS.build(dict(type='TopdownRandomHalfBody', prob=1.0,
                                 upper_prioritized_prob=1.0))
    for _ in range(20):
        res = t(dict(bbox_center=np.array([[50., 50.]]),
                     bbox_scale=np.array([[40., 80.]])))
        s = res['bbox_scale'][0] / [40, 80]
        assert 0.5 <= s[0] <= 1.5 and abs(res['bbox_rotation'][0]) <= 80
        assert np.all(np.abs(res['bbox_center'][0] - 50) <=
                      0.16 * np.array([40, 80]) + 1e-4)
    kpts = np.arange(34, dtype=np.float32).reshape(1, 17, 2)
    res = half(dict(keypoints=kpts, keypoints_visible=np.ones((1, 17)),
                    bbox_center=np.zeros((1, 2)), bbox_scale=np.ones((1, 2)),
                    upper_body_ids=list(range(11)),
                    lower_body_ids=list(range(11, 17))))
    np.testing.assert_allclose(res['bbox_center'][0], kpts[0, :11].mean(0))
    np.testing.assert_allclose(res['bbox_scale'][0], [30, 30])


def test_generate_target_and_pack():
    codec = dict(type='UDPHeatmap', input_size=(48, 64),
                 heatmap_size=(12, 16))
    res = dict(img=np.zeros((64, 48, 3), np.uint8),
               transformed_keypoints=np.array([[[10., 20.], [30., 40.]]]),
               keypoints_visible=np.array([[1., 0.]]),
               bbox=np.zeros((1, 4)), id=3, img_id=7)
    res = TRANSFORMS.build(dict(type='GenerateHeatmapTarget',
                                encoder=codec))(res)
    packed = TRANSFORMS.build(dict(type='PackPoseInputs'))(res)
    sample = packed['data_samples']
    assert tuple(packed['inputs'].shape) == (3, 64, 48)
    assert tuple(sample.gt_fields.heatmaps.shape) == (2, 16, 12)
    assert sample.gt_instance_labels.keypoint_weights.tolist() == [[1., 0.]]
    assert sample.metainfo['id'] == 3 and sample.img_id == 7
    with pytest.raises(KeyError, match='TopdownAffine'):
        TRANSFORMS.build(dict(type='GenerateHeatmapTarget', encoder=codec))(
            dict(keypoints_visible=np.ones((1, 2))))
