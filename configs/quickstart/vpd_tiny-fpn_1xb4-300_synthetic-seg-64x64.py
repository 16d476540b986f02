# CPU quickstart / learning check of VPD segmentation: the tiny SD-shaped
# preset (random weights) on the synthetic textured-shapes set, 64x64, batch
# 4, 300 iterations (a few minutes on 2 CPU cores). First make the data and
# the tiny "pretrained" weights (random UNet; a VAE encoder set to 8x8
# average pooling, standing in for SD's pretrained VAE: a random frozen VAE
# passes almost no image content on, see vpd/utils/tiny_sd.py):
#   python tools/dataset_converters/make_synthetic_seg.py data/synthetic_seg
#   python -m vpd.utils.tiny_sd checkpoints/tiny_sd_pooling_vae.ckpt
#   python tools/train.py configs/quickstart/vpd_tiny-fpn_1xb4-300_synthetic-seg-64x64.py
# The class embeddings are seeded random vectors (class_embeddings=None):
# for tests and this check only; real configs name a CLIP embedding file.
_base_ = [
    '../_base_/models/vpd_seg_sd15.py', '../_base_/datasets/synthetic_seg.py',
    '../_base_/default_runtime.py'
]
num_classes = 5
crop_size = (64, 64)
max_iters = 300
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        unet='tiny',
        vae='tiny',
        pretrained='checkpoints/tiny_sd_pooling_vae.ckpt',
        attn_maps=dict(num_tokens=num_classes)),
    conditioner=dict(
        class_embeddings=None, num_classes=num_classes, embed_dim=32),
    # tiny widths [32, 64, 64, 64] plus K attention maps at 1/16 and 1/32
    neck=dict(
        in_channels=[32, 64 + num_classes, 64 + num_classes, 64],
        out_channels=64),
    decode_head=dict(
        in_channels=[64, 64, 64, 64],
        channels=64,
        num_classes=num_classes,
        norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='ForceDefaultOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-3),
    paramwise_cfg=dict(
        force_default_settings=True,
        norm_decay_mult=0.0,
        custom_keys={'backbone.vae': dict(lr_mult=0.0, decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=20),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=20,
         end=max_iters)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
