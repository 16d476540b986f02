# mmsegmentation 1.2.2's VPD depth recipe (configs/vpd, schedule_25k.py):
# AdamW lr 1e-3, weight decay 0.1 (none on biases), UNet lr x0.01, linear
# warm-up from 3% over 12k iterations, poly (0.9) decay to 3% until 24k,
# then constant; 25k iterations.
optim_wrapper = dict(
    type='OptimWrapper',
    # mmseg's ForceDefault rules (the 1-D / bias rules inside custom_keys
    # too), logged as one summary line (vpd/engine/optimizers).
    constructor='SummaryOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1),
    paramwise_cfg=dict(
        force_default_settings=True,
        bias_decay_mult=0.0,
        custom_keys={
            'backbone.vae': dict(lr_mult=0.0),
            'backbone.unet': dict(lr_mult=0.01),
        }))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=3e-2, begin=0, end=12000,
        by_epoch=False),
    dict(
        type='PolyLRRatio',
        eta_min_ratio=3e-2,
        power=0.9,
        begin=12000,
        end=24000,
        by_epoch=False),
    dict(type='ConstantLR', by_epoch=False, factor=1, begin=24000, end=25000)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=25000, val_interval=1000)
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
        interval=2000,
        max_keep_ckpts=1,
        save_best='rmse',
        rule='less'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DepthVisualizationHook', draw=False),
    # a NaN/Inf loss or gradient stops the run (action='skip' skips
    # the step); a whole epoch without valid targets stops it too
    non_finite=dict(type='NonFiniteGuardHook', action='stop'),
    empty_target=dict(type='EmptyTargetHook'))
