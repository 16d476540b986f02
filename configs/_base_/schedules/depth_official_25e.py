# The official VPD / Meta Prompts depth recipe (wl-zhao/VPD depth/train.py):
# AdamW, max lr 5e-4, min lr 3e-5, weight decay 0.1 except on 1-D parameters
# (biases, norms, gamma), UNet lr x0.01, lr rising min -> max over the first
# epochs // 2 epochs (power 0.9) and falling back, 25 epochs.
max_epochs = 25
optim_wrapper = dict(
    type='OptimWrapper',
    # mmseg's ForceDefault rules (the 1-D / bias rules inside custom_keys
    # too), logged as one summary line (vpd/engine/optimizers).
    constructor='SummaryOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(
        force_default_settings=True,
        bias_decay_mult=0.0,
        norm_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            'backbone.unet': dict(lr_mult=0.01),
            'backbone.vae': dict(lr_mult=0.0, decay_mult=0.0),
        }))
param_scheduler = [
    dict(
        type='TwoPhasePolyLR',
        min_ratio=3e-5 / 5e-4,
        peak=max_epochs // 2,
        power=0.9,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(
        type='ProgressLoggerHook', interval=50,
        log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=2,
        save_best='rmse',
        rule='less'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DepthVisualizationHook', draw=False),
    # a NaN/Inf loss or gradient stops the run (action='skip' skips
    # the step); a whole epoch without valid targets stops it too
    non_finite=dict(type='NonFiniteGuardHook', action='stop'),
    empty_target=dict(type='EmptyTargetHook'))
# Epoch-based logging (log_processor = dict(by_epoch=True)) is set in the
# leaf configs: default_runtime.py defines log_processor too, and mmengine
# refuses a key defined by two bases.
