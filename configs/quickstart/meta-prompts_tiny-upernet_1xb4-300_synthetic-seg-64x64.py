# CPU quickstart / learning check of Meta Prompts segmentation: the tiny
# SD-shaped preset on the synthetic textured-shapes set, 64x64, batch 4,
# 300 iterations, 3 refinement loops (1 loop:
# --cfg-options model.backbone.num_loops=1 model.conditioner.num_loops=1).
# First make the data and the tiny "pretrained" weights (random UNet; a VAE
# encoder set to 8x8 average pooling, standing in for SD's pretrained VAE:
# a random frozen VAE passes almost no image content on, see
# vpd/utils/tiny_sd.py):
#   python tools/dataset_converters/make_synthetic_seg.py data/synthetic_seg
#   python -m vpd.utils.tiny_sd checkpoints/tiny_sd_pooling_vae.ckpt
#   python tools/train.py \
# configs/quickstart/meta-prompts_tiny-upernet_1xb4-300_synthetic-seg-64x64.py
_base_ = [
    '../_base_/models/meta_prompts_seg_sd15.py',
    '../_base_/datasets/synthetic_seg.py', '../_base_/default_runtime.py'
]
num_classes = 5
# More prompts than classes (the paper: 150 for ADE20K's 150 classes and for
# Cityscapes' 19): 16 prompts learn markedly slower on this set.
num_prompts = 64
crop_size = (64, 64)
max_iters = 300
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        unet='tiny',
        vae='tiny',
        pretrained='checkpoints/tiny_sd_pooling_vae.ckpt'),
    # tiny widths: cross-attention 32, time embedding 4 * 32
    conditioner=dict(
        num_prompts=num_prompts, embed_dim=32, time_embed_dim=128),
    neck=dict(in_channels=[32, 64, 64, 64], embed_dim=32, num_groups=8),
    decode_head=dict(
        in_channels=[num_prompts] * 4,
        channels=32,
        num_classes=num_classes,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=num_prompts,
        channels=32,
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
