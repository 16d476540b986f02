"""The recipes behave as the code that produced the papers' numbers.

Expected values are copied from the official code (named per test): VPD
(wl-zhao/VPD), Meta Prompts (fudan-zvg/meta-prompts) and mmsegmentation
1.2.2's VPD port.
"""
import os.path as osp
import random
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from vpd.registry import MODELS, TRANSFORMS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tests', 'models', 'converters'))
from _tiny import tinyfy  # noqa: E402
MMSEG_PORT = ['vpd/vpd_sd15_4xb8-25k_nyu-480x480.py',
              'vpd/vpd_sd15_4xb8-25k_nyu-512x512.py']
OFFICIAL_DEPTH = {  # config: (windows of train.sh --shift_size, max depth)
    'vpd/vpd_sd15_8xb3-25e_nyu-480x480.py': 2,
    'meta_prompts/meta-prompts_sd15_8xb3-25e_nyu-480x480.py': 2,
    'meta_prompts/meta-prompts_sd15_8xb3-25e_kitti-352x352.py': 16,
}


def _cfg(rel):
    return Config.fromfile(osp.join(ROOT, 'configs', rel))


def _pipeline(cfg):
    return cfg.train_dataloader.dataset.pipeline


# ------------------------------------------------------ mmseg's VPD port
def test_mmseg_port_uses_mmseg_loss_rule_init_and_depth_mix():
    from mmseg.models.losses import SiLogLoss
    for rel in MMSEG_PORT:
        cfg = _cfg(rel)
        m = cfg.model
        assert type(MODELS.build(m.loss)) is SiLogLoss, rel
        assert m.conditioner.scene_rule == 'mmseg'
        assert m.decode_head.last_layer_init == 'trunc_normal'
        mixes = [t for t in _pipeline(cfg) if t.type == 'RandomDepthMix']
        assert [t.prob for t in mixes] == [0.25]
        assert not any(t.type == 'CutDepth' for t in _pipeline(cfg))
    for rel in OFFICIAL_DEPTH:
        m = _cfg(rel).model
        assert m.loss.type == 'BatchSiLogLoss'
        assert m.conditioner.get('scene_rule', 'vpd') == 'vpd'
        assert m.decode_head.get('last_layer_init', 'normal') == 'normal'


def test_silog_per_image_vs_pooled():
    """mmseg's SiLogLoss (silog_loss.py): per image, then the batch mean;
    VPD's (depth/utils_depth/criterion.py): one value over all pixels."""
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 1, 6, 8, generator=g) * 5 + 0.5
    gt[1, :, :3] = 0  # invalid pixels
    pred = gt * torch.tensor([1.0, 2.0]).view(2, 1, 1, 1) * (
        1 + 0.2 * torch.rand(2, 1, 6, 8, generator=g))

    def silog(p, t):
        d = torch.log(t) - torch.log(p)
        return torch.sqrt((d**2).mean() - 0.5 * d.mean()**2)

    valid = gt > 0
    per_image = torch.stack([silog(pred[i][valid[i]], gt[i][valid[i]])
                             for i in range(2)]).mean()
    pooled = silog(pred[valid], gt[valid])
    port = MODELS.build(_cfg(MMSEG_PORT[0]).model.loss)
    official = MODELS.build(_cfg('vpd/vpd_sd15_8xb3-25e_nyu-480x480.py')
                            .model.loss)
    torch.testing.assert_close(port(pred, gt), per_image)
    torch.testing.assert_close(official(pred, gt), pooled)
    assert abs(float(per_image - pooled)) > 1e-3
    assert port.loss_name == official.loss_name == 'loss_silog'


def test_scene_rules_and_the_mean_row():
    """mmseg (datasets/nyu.py): exact name before the first digit; VPD
    (depth/dataset/nyudepthv2.py): first class name contained. Unknown
    names: mmseg's appended mean row (class_embed_select)."""
    from vpd.datasets import NYU_SCENE_CLASSES
    from vpd.utils.scene_class import scene_class_index
    cases = {  # path: (VPD id, mmseg id)
        'sync/study_room_0004/rgb_00149.jpg': (3, 5),
        'official_splits/test/office_kitchen/rgb_00045.jpg': (6, 19),
        'images/train/study_room_0004_00149.jpg': (3, 5),  # mmseg layout
        'images/test/kitchen_00045.jpg': (6, 6),
        'sync/home_office_0001/rgb_00001.jpg': (7, 7),
        'my/photos/IMG_1234.jpg': (-1, -1),
        'my/photos/garden.jpg': (-1, -1),
    }
    for path, (vpd_id, mmseg_id) in cases.items():
        assert scene_class_index(path, NYU_SCENE_CLASSES) == vpd_id, path
        assert scene_class_index(path, NYU_SCENE_CLASSES,
                                 'mmseg') == mmseg_id, path
    cond = MODELS.build(dict(
        tinyfy(_cfg(MMSEG_PORT[0])).model.conditioner, embed_dim=8,
        num_classes=27))
    samples = [SegDataSample(metainfo=dict(img_path=p)) for p in
               ('sync/study_room_0004/rgb_00149.jpg', 'my/photos/x.jpg')]
    with torch.no_grad():
        ctx = cond(2, samples)['context'][:, 0]
        emb = cond.class_embeddings
        table = torch.cat([emb, emb.mean(0, keepdim=True)])  # mmseg's
        expected = cond.text_adapter(table[[5, -1]], cond.gamma)
    torch.testing.assert_close(ctx, expected)


def test_head_last_layer_init():
    """mmseg's VPDDepthHead: TruncNormal(std=0.02) on depth_pred_layer; the
    official VPDDepth (depth/models_depth/model.py): normal(std=0.001)."""
    stds = {}
    for init in ('normal', 'trunc_normal'):
        torch.manual_seed(0)
        head = MODELS.build(dict(type='VPDDepthHead', in_channels=8,
                                 channels=64, num_filters=[4, 4, 4],
                                 last_layer_init=init))
        conv = head.last_layer_depth[0]
        stds[init] = float(conv.weight.std())
        assert float(conv.bias.abs().max()) == 0
        assert float(head.deconv_layers[0].weight.std()) < 2e-3
    assert stds['normal'] == pytest.approx(0.001, rel=0.05)
    assert stds['trunc_normal'] == pytest.approx(0.02, rel=0.05)


# --------------------------------------------------------------- CutDepth
def _load_nyu_sample(tmp_path):
    import cv2
    rng = np.random.RandomState(0)
    depth_mm = rng.randint(300, 9000, (6, 40)).astype(np.uint16)
    img = rng.randint(0, 255, (6, 40, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'd.png'), depth_mm)
    cv2.imwrite(str(tmp_path / 'i.png'), img)
    load = [TRANSFORMS.build(dict(type='LoadImageFromFile')),
            TRANSFORMS.build(dict(type='LoadDepthMap'))]
    results = dict(img_path=str(tmp_path / 'i.png'),
                   depth_map_path=str(tmp_path / 'd.png'),
                   depth_rescale_factor=1e-3, seg_fields=[])
    for t in load:
        results = t(results)
    return results, depth_mm


def test_official_recipes_cut_depth(tmp_path):
    """The official recipes: every 4th sample of a worker, raw depth (mm)
    into the uint8 image (base_dataset.py); workers restart every epoch."""
    for rel in OFFICIAL_DEPTH:
        cfg = _cfg(rel)
        cuts = [t for t in _pipeline(cfg) if t.type == 'CutDepth']
        assert len(cuts) == 1 and cuts[0].interval == 4, rel
        assert cuts[0].depth_values == 'raw' and 'prob' not in cuts[0]
        assert cfg.train_dataloader.persistent_workers is False
    results, depth_mm = _load_nyu_sample(tmp_path)
    before = results['img'].copy()
    np.random.seed(5)
    alpha, beta = np.random.rand(2)
    np.random.seed(5)
    out = TRANSFORMS.build(dict(type='CutDepth'))(dict(results))['img']
    # the reference's lines, on its float32 depth in mm and uint8 image
    ref = before.copy()
    w_total = ref.shape[1]
    left = int(alpha * w_total)
    width = int(max((w_total - alpha * w_total) * beta * 0.75, 1))
    for c in range(3):
        ref[:, left:left + width, c] = depth_mm[:, left:left + width].astype(
            np.float32)
    np.testing.assert_array_equal(out, ref)
    assert (out[:, left:left + width, 0] ==
            depth_mm[:, left:left + width] % 256).all()  # wrapped


def test_mmseg_random_depth_mix_writes_raw_depth(tmp_path):
    """mmseg's own RandomDepthMix (the port's) works on this project's
    loaded samples: the stripe holds depth / depth_rescale_factor, wrapped
    into uint8."""
    results, depth_mm = _load_nyu_sample(tmp_path)
    before = results['img'].copy()
    mix = TRANSFORMS.build(dict(type='RandomDepthMix', prob=1.0))
    random.seed(0)
    out = mix(dict(results, img=before.copy()))['img']
    changed = np.where((out != before).any(axis=(0, 2)))[0]
    assert len(changed) >= 1
    cols = slice(changed.min(), changed.max() + 1)
    raw = np.rint(depth_mm[:, cols] * 1e-3 / 1e-3).astype(np.int64)
    assert np.abs(out[:, cols, 0].astype(np.int64) - raw % 256).max() <= 1


# ------------------------------------------------- validation protocol
@pytest.mark.parametrize('rel', sorted(OFFICIAL_DEPTH))
def test_official_depth_recipes_validate_as_the_reference(rel):
    """train.sh: --flip_test --shift_window_test --shift_size N, and the
    best RMSE on that protocol is kept (train.py): validation uses it."""
    cfg = _cfg(rel)
    assert cfg.model.test_cfg == dict(flip=True,
                                      shift_windows=OFFICIAL_DEPTH[rel])
    assert cfg.tta_model.flip and \
        cfg.tta_model.shift_windows == OFFICIAL_DEPTH[rel]
    assert cfg.default_hooks.checkpoint.save_best == 'rmse'
    assert cfg.train_cfg.val_interval == 1


def test_validation_step_is_the_official_test_and_configurable():
    from tiny_models import randomize_
    cfg = tinyfy(_cfg('vpd/vpd_sd15_8xb3-25e_nyu-480x480.py'))
    torch.manual_seed(0)
    model = randomize_(MODELS.build(cfg.model), 0).eval()
    tta = MODELS.build(dict(cfg.tta_model, module=model))
    s = SegDataSample(metainfo=dict(img_path='/x/kitchen_1/rgb_1.jpg',
                                    img_shape=(32, 64), ori_shape=(32, 64)))
    s.gt_depth_map = PixelData(data=torch.ones(1, 32, 64))
    data = dict(inputs=[torch.randint(0, 255, (3, 32, 64),
                                      dtype=torch.uint8)],
                data_samples=[s])
    with torch.no_grad():
        val = model.val_step(data)[0].pred_depth_map.data
        official = tta.test_step(data)[0].pred_depth_map.data
        model.test_cfg = dict(flip=False, shift_windows=1)  # --cfg-options
        plain = model.val_step(data)[0].pred_depth_map.data
    torch.testing.assert_close(val, official, rtol=0, atol=0)
    assert not torch.allclose(val, plain)


# ---------------------------------------------------------- Meta Prompts
def test_meta_prompts_cityscapes_trains_as_the_readme():
    """segmentation/README.md trains with configs/cityscapes.py:
    samples_per_gpu=1 (line 57), lr=0.00008 (line 69); 8 GPUs."""
    cfg = _cfg('meta_prompts/meta-prompts_sd15-upernet_8xb1-80k_'
               'cityscapes-1024x1024.py')
    assert cfg.train_dataloader.batch_size == 1
    assert cfg.optim_wrapper.optimizer.lr == 8e-5
    assert cfg.auto_scale_lr.base_batch_size == 8
    assert not osp.exists(osp.join(
        ROOT, 'configs', 'meta_prompts',
        'meta-prompts_sd15-upernet_8xb2-80k_cityscapes-1024x1024.py'))


def test_ade20k_class_embeddings_entry():
    """The ADE20K configs read the released segmentation/
    class_embeddings.pth of VPD, available (checksum-verified) from the
    zoo under the file name they expect."""
    from vpd.utils.model_zoo import zoo_entry
    entry = zoo_entry('vpd-ade20k-class-embeddings')
    cfg = _cfg('vpd/vpd_sd15-fpn_8xb2-80k_ade20k-512x512.py')
    assert osp.basename(cfg.model.conditioner.class_embeddings) == \
        entry['filename']
    assert entry['sha256'] == ('0bba14a25988ae250dac1d9f9541551c'
                               '0722a3f5edd902cea888e4e8cbd1b7a2')
    assert entry['url'].endswith('/segmentation/class_embeddings.pth')
