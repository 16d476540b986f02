# VPD segmentation recipe (wl-zhao/VPD segmentation configs, mmcv 1.x):
# AdamW lr 8e-5, weight decay 1e-3, UNet lr x0.1, VAE lr x0 (frozen anyway),
# no weight decay on norm layers; poly decay (power 1) from iteration 0 to 0
# at 80k, multiplied during the first 1500 iterations by a linear warm-up
# factor from 1e-6 (mmcv's `policy='poly', warmup='linear'`, exactly: both
# schedulers run from iteration 0 and chain); 8 GPUs x 2 images.
# The official `'norm': dict(decay_mult=0.)` key is a name match (it also
# happens to take the UNet's transformer norms out of the 0.1 lr_mult);
# here norm layers are found by type and keep their module's lr_mult.
optim_wrapper = dict(
    type='OptimWrapper',
    # mmseg's ForceDefault rules (norm_decay_mult inside custom_keys too),
    # logged as one summary line (vpd/engine/optimizers).
    constructor='SummaryOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=8e-5, betas=(0.9, 0.999), weight_decay=1e-3),
    paramwise_cfg=dict(
        force_default_settings=True,
        norm_decay_mult=0.0,
        custom_keys={
            'backbone.unet': dict(lr_mult=0.1),
            'backbone.vae': dict(lr_mult=0.0, decay_mult=0.0),
        }),
    clip_grad=None)
# mmengine divides a scheduler's span by (end - begin - 1): end=1501 and
# 80001 give mmcv's factors i / 1500 and 1 - i / 80000 exactly
# (tests/configs/test_seg_configs.py steps both).
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=1501),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        by_epoch=False,
        begin=0,
        end=80001)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000, val_interval=8000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(
        type='ProgressLoggerHook', interval=50,
        log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=8000,
        max_keep_ckpts=2,
        save_best='mIoU',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegOverlayVisualizationHook', draw=False),
    # a NaN/Inf loss or gradient stops the run (action='skip' skips
    # the step); a whole epoch without valid targets stops it too
    non_finite=dict(type='NonFiniteGuardHook', action='stop'),
    empty_target=dict(type='EmptyTargetHook'))
