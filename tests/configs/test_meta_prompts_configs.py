"""Every Meta Prompts config builds (tiny preset) and follows the paper."""
import glob
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config, ConfigDict

from vpd.registry import MODELS

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _tiny import tinyfy  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'meta_prompts', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'quickstart', 'meta-prompts_*.py')))


def tiny_model_cfg(model: ConfigDict) -> ConfigDict:
    """The model of a Meta Prompts config on the tiny SD-shaped preset
    (the widths that follow from the UNet are derived at build time)."""
    return tinyfy(model)


ONE_LOOP_QUICKSTARTS = (
    'meta-prompts_tiny_1xb8-300_synthetic-pose-128x96.py', )


def _name(path):
    return osp.basename(path)


def test_configs_found():
    names = {_name(p) for p in CONFIGS}
    assert {
        'meta-prompts_sd15_8xb3-25e_nyu-480x480.py',
        'meta-prompts_sd15_8xb3-25e_kitti-352x352.py',
        'meta-prompts_sd15-upernet_8xb1-80k_ade20k-512x512.py',
        'meta-prompts_sd15-upernet_8xb1-80k_ade20k-512x512_ms.py',
        'meta-prompts_sd15-upernet_8xb1-80k_cityscapes-1024x1024.py',
        'meta-prompts_sd15-upernet_8xb1-80k_cityscapes-1024x1024_ms.py',
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_builds_with_tiny_preset(path):
    cfg = Config.fromfile(path)
    model_cfg = tiny_model_cfg(cfg.model)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    core = model.module if model_cfg.type == 'SegTTAModel' else model
    # the pose quickstart trains one loop on purpose (its header and
    # configs/meta_prompts/README.md, CPU checks); everything else has 3
    loops = 1 if _name(path) in ONE_LOOP_QUICKSTARTS else 3
    assert core.backbone.num_loops == core.conditioner.num_loops == loops
    assert not hasattr(core.backbone.unet, 'time_embedding')
    assert getattr(core.neck, 'uses_prompts', False)
    assert 'text_encoder' not in dict(core.named_modules())
    # derived widths: tiny context 32 / time embedding 128, the heads read
    # one map per prompt
    n = core.conditioner.num_prompts
    assert core.conditioner.embed_dim == core.neck.embed_dim == 32
    assert core.conditioner.time_embed_dim == 128
    assert core.neck.in_channels == [32, 64, 64, 64]
    if type(core).__name__ == 'DiffusionSegmentor':
        assert core.decode_head.in_channels == [n] * 4
        assert core.auxiliary_head.in_channels == n
    elif type(core).__name__ == 'DiffusionPoseEstimator':
        assert core.head.in_channels == n
    else:
        assert core.decode_head.deconv_layers[0].in_channels == n


def _cfg(name):
    return Config.fromfile(osp.join(ROOT, 'configs', 'meta_prompts', name))


def test_depth_recipes():
    nyu = _cfg('meta-prompts_sd15_8xb3-25e_nyu-480x480.py')
    kitti = _cfg('meta-prompts_sd15_8xb3-25e_kitti-352x352.py')
    for cfg in (nyu, kitti):
        m = cfg.model
        assert m.input_mode == 'resize'
        assert m.conditioner.num_prompts == 50
        assert 'in_channels' not in m.decode_head  # derived: 50 maps
        assert not m.conditioner.share_prompts and m.conditioner.use_adapter
        assert m.decode_head.num_upsample == 0
        assert cfg.train_dataloader.batch_size == 3
        assert cfg.tta_model.flip
    assert nyu.model.resize_scale == 1 and kitti.model.resize_scale == 2
    assert nyu.model.decode_head.max_depth == 10
    assert kitti.model.decode_head.max_depth == 80
    assert nyu.tta_model.shift_windows == 2
    assert kitti.tta_model.shift_windows == 16
    assert kitti.val_evaluator.crop_type == 'garg'
    assert any(t.type == 'KBCrop' for t in kitti.test_pipeline)


def test_seg_recipes():
    ade = _cfg('meta-prompts_sd15-upernet_8xb1-80k_ade20k-512x512.py')
    city = _cfg('meta-prompts_sd15-upernet_8xb1-80k_cityscapes-1024x1024.py')
    for cfg, classes in ((ade, 150), (city, 19)):
        m = cfg.model
        assert m.conditioner.num_prompts == 150
        assert m.conditioner.share_prompts and not m.conditioner.use_adapter
        assert m.decode_head.type == 'UPerHead'
        assert 'in_channels' not in m.decode_head  # derived: [150] * 4
        assert m.decode_head.pool_scales == (1, 2, 3, 6)
        assert m.decode_head.channels == 512
        assert m.decode_head.num_classes == classes
        assert [l.type for l in m.decode_head.loss_decode] == [
            'CrossEntropyLoss', 'LovaszLoss']
        assert m.auxiliary_head.type == 'FCNHead'
        assert m.auxiliary_head.in_index == 2
        assert m.auxiliary_head.loss_decode.loss_weight == 0.4
        assert cfg.optim_wrapper.optimizer.weight_decay == 1e-3
        keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
        assert keys['backbone.unet'].lr_mult == 0.1
        assert cfg.param_scheduler[0].end == 1501
        assert cfg.train_cfg.max_iters == 80000
    # Both train with 1 image per GPU at lr 8e-5 (official
    # segmentation/configs/{ade,cityscapes}.py: samples_per_gpu=1,
    # lr=0.00008; only the test config cityscapes_ms.py has 2 / 1.6e-4).
    for cfg in (ade, city):
        assert cfg.optim_wrapper.optimizer.lr == 8e-5
        assert cfg.train_dataloader.batch_size == 1
        assert cfg.auto_scale_lr.base_batch_size == 8
    assert ade.model.test_cfg.crop_size == (512, 512)
    assert ade.model.test_cfg.stride == (341, 341)
    assert city.model.test_cfg.crop_size == (1024, 1024)
    assert city.model.test_cfg.stride == (512, 512)
    assert city.model.data_preprocessor.size == (1024, 1024)


def test_pose_recipes():
    """The COCO pose recipes (ViTPose-B schedule, MP multipliers) and the
    codec shared by the model and the training pipeline."""
    names = ('meta-prompts_sd15_8xb32-210e_coco-256x192.py',
             'meta-prompts_sd15_8xb32-210e_coco-384x288.py')
    sizes = (((192, 256), (48, 64)), ((288, 384), (72, 96)))
    for name, (crop, heatmap) in zip(names, sizes):
        cfg = _cfg(name)
        m = cfg.model
        assert m.type == 'DiffusionPoseEstimator'
        assert m.codec.type == 'UDPHeatmap'
        assert (m.codec.input_size, m.codec.heatmap_size) == (crop, heatmap)
        steps = {s.type: s for s in cfg.train_dataloader.dataset.pipeline}
        assert steps['GenerateHeatmapTarget'].encoder == m.codec
        assert steps['TopdownAffine'].input_size == crop
        assert steps['TopdownAffine'].use_udp
        assert m.head.out_channels == 17
        assert 'in_channels' not in m.head  # derived: one map per prompt
        assert m.test_cfg.flip_test
        assert m.backbone.get('gradient_checkpointing', False) == (
            crop == (288, 384))
        opt = cfg.optim_wrapper
        assert opt.optimizer.lr == 5e-4 and opt.optimizer.weight_decay == 0.1
        assert opt.paramwise_cfg.custom_keys['backbone.unet'].lr_mult == 0.1
        assert opt.paramwise_cfg.custom_keys['backbone.vae'].lr_mult == 0.0
        assert opt.paramwise_cfg.norm_decay_mult == 0.0
        assert cfg.param_scheduler[1].milestones == [170, 200]
        assert cfg.train_cfg.max_epochs == 210
        assert cfg.auto_scale_lr.enable
        assert cfg.auto_scale_lr.base_batch_size == 512
        assert cfg.train_dataloader.batch_size == 32
        assert cfg.val_dataloader.dataset.bbox_file.endswith(
            'COCO_val2017_detections_AP_H_56_person.json')
        assert cfg.val_evaluator.type == 'CocoKeypointMetric'


def test_pose_quickstart_shares_the_coco_dataset_config():
    """The synthetic pose base derives from the COCO one (same dataset,
    metric and loaders) with its own root, detections, crop and codec; the
    quickstart model uses that codec and one refinement loop."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'quickstart',
        'meta-prompts_tiny_1xb8-300_synthetic-pose-128x96.py'))
    m = cfg.model
    assert (m.codec.input_size, m.codec.heatmap_size) == ((96, 128),
                                                          (24, 32))
    assert m.backbone.num_loops == m.conditioner.num_loops == 1
    steps = {s.type: s for s in cfg.train_dataloader.dataset.pipeline}
    assert steps['GenerateHeatmapTarget'].encoder == m.codec
    assert steps['TopdownAffine'].input_size == (96, 128)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        assert loader.dataset.type == 'CocoKeypointDataset'
        assert loader.dataset.data_root == 'data/synthetic_pose/'
    assert cfg.val_dataloader.dataset.bbox_file.endswith(
        'synthetic_val2017_detections.json')
    assert cfg.val_evaluator.ann_file.startswith('data/synthetic_pose/')


def test_tiny_quickstarts_keep_their_measured_settings():
    """The two settings the Meta Prompts quickstarts need to learn (see
    ``configs/meta_prompts/README.md``): a classifier init at the scale of
    the tiny heads, applied by ``init_weights()`` as the Runner calls it,
    and the reference's UNet lr multiplier for depth. The SD1.5 recipes
    keep mmseg's N(0, 0.01)."""
    seg = Config.fromfile(osp.join(
        ROOT, 'configs', 'quickstart',
        'meta-prompts_tiny-upernet_1xb4-300_synthetic-seg-64x64.py'))
    seg.model.backbone.pretrained = None
    torch.manual_seed(0)
    model = MODELS.build(seg.model)
    model.init_weights()
    for head in (model.decode_head, model.auxiliary_head):
        std = head.conv_seg.weight.std().item()
        assert 0.08 < std < 0.12, std
        assert head.conv_seg.bias.abs().max().item() == 0
    full = Config.fromfile(osp.join(
        ROOT, 'configs', 'meta_prompts',
        'meta-prompts_sd15-upernet_8xb1-80k_ade20k-512x512.py'))
    assert 'init_cfg' not in full.model.decode_head
    depth = Config.fromfile(osp.join(
        ROOT, 'configs', 'quickstart',
        'meta-prompts_tiny_1xb4-300_synthetic-depth-96x128.py'))
    keys = depth.optim_wrapper.paramwise_cfg.custom_keys
    assert keys['backbone.unet'].lr_mult == 0.01
    assert keys['backbone.vae'].lr_mult == 0.0
