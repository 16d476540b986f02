# CPU quickstart: VPD depth with the tiny SD-shaped preset (random weights,
# no downloads) on the procedural synthetic NYU-layout set written by
# tools/dataset_converters/make_synthetic_depth.py. Run it all with
# `python tools/quickstart.py` (see README).
_base_ = [
    '../_base_/models/vpd_depth_sd15.py', '../_base_/datasets/nyu.py',
    '../_base_/default_runtime.py'
]
data_root = 'data/synthetic_nyu'
crop_size = (96, 128)
model = dict(
    # the widths that follow from the tiny UNet (context 32, pyramid
    # [32, 64, 64, 64]) are derived
    backbone=dict(
        unet=dict(preset='tiny'), vae=dict(preset='tiny'), pretrained=None),
    conditioner=dict(class_embeddings=None),
    neck=dict(out_channels=128, num_groups=8),
    decode_head=dict(channels=32, num_filters=[16, 16, 16]),
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
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=10, num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(crop_type=None)
test_evaluator = val_evaluator
# The random-init tiny UNet trains at the full learning rate.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='SummaryOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'backbone.vae': dict(lr_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', power=0.9, eta_min=1e-5, begin=50, end=150,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=150, val_interval=150)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(
        type='ProgressLoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # a checkpoint every 25 iterations: --resume after Ctrl-C loses little
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=25,
                    max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DepthVisualizationHook', draw=False),
    # a NaN/Inf loss or gradient stops the run (action='skip' skips
    # the step); a whole epoch without valid targets stops it too
    non_finite=dict(type='NonFiniteGuardHook', action='stop'),
    empty_target=dict(type='EmptyTargetHook'))
randomness = dict(seed=0)
