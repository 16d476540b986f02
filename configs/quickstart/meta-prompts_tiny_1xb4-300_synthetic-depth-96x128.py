# CPU quickstart / learning check of Meta Prompts depth: the tiny SD-shaped
# preset (no downloads) on the procedural synthetic NYU-layout set, 300
# iterations of batch 4 (a few minutes on 2 CPU cores). First make the data
# and the tiny "pretrained" weights that stand in for SD's (a VAE encoder
# set to 8x8 average pooling; a random UNet whose output conv passes the
# latent back, which the refinement loops feed on: see
# vpd/models/backbones/tiny_sd_stand_in.py; the method is unchanged):
#   python tools/dataset_converters/make_synthetic_depth.py data/synthetic_nyu
#   python tools/misc/make_tiny_sd.py checkpoints/tiny_sd_pooling_vae.ckpt
#   python tools/train.py \
# configs/quickstart/meta-prompts_tiny_1xb4-300_synthetic-depth-96x128.py
# 3 refinement loops; 1 loop: --cfg-options model.backbone.num_loops=1
# model.conditioner.num_loops=1. resize_scale=0 keeps the 96x128 images at
# 64x128 (the reference's NYU value 1 would run the tiny UNet at 128x192).
_base_ = [
    '../_base_/models/meta_prompts_depth_sd15.py', '../_base_/datasets/nyu.py',
    '../_base_/default_runtime.py'
]
data_root = 'data/synthetic_nyu'
crop_size = (96, 128)
model = dict(
    # the widths that follow from the tiny UNet are derived
    backbone=dict(
        unet=dict(preset='tiny'),
        vae=dict(preset='tiny'),
        pretrained='checkpoints/tiny_sd_pooling_vae.ckpt'),
    neck=dict(num_filters=16, num_groups=8),
    decode_head=dict(channels=32, num_filters=[16, 16, 16]),
    resize_scale=0,
    test_cfg=dict(flip=False, shift_windows=1))
tta_model = dict(flip=True, shift_windows=1)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthMap'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='DepthPhotometricAug'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=10, num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(crop_type=None)
test_evaluator = val_evaluator
# The UNet starts from the stand-in for SD's weights, so it keeps the
# reference's multiplier (x0.01, depth/models_depth/optimizer.py of
# fudan-zvg/meta-prompts); at the full learning rate 3 loops stayed at
# 0.82-0.96x the mean-depth baseline in the learning test's setting.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='SummaryOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'backbone.vae': dict(lr_mult=0.0),
        'backbone.unet': dict(lr_mult=0.01)
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=30, by_epoch=False),
    dict(type='PolyLR', power=0.9, eta_min=1e-5, begin=30, end=300,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=300, val_interval=300)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(
        type='ProgressLoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # a checkpoint every 50 iterations: --resume after Ctrl-C loses little
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=50,
                    max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DepthVisualizationHook', draw=False),
    # a NaN/Inf loss or gradient stops the run (action='skip' skips
    # the step); a whole epoch without valid targets stops it too
    non_finite=dict(type='NonFiniteGuardHook', action='stop'),
    empty_target=dict(type='EmptyTargetHook'))
randomness = dict(seed=0)
