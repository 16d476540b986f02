# Schedule of the tiny CPU segmentation configs (configs/quickstart): the
# random-init tiny UNet trains at the full learning rate (AdamW 1e-3, VAE
# frozen, no decay on norms); 20 warm-up iterations, then linear decay to 0
# at 300; one validation and one checkpoint at the end.
max_iters = 300
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='SummaryOptimWrapperConstructor',
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
    logger=dict(
        type='ProgressLoggerHook', interval=25, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # a checkpoint every 50 iterations: --resume after Ctrl-C loses little
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=50),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegOverlayVisualizationHook', draw=False),
    # a NaN/Inf loss or gradient stops the run (action='skip' skips
    # the step); a whole epoch without valid targets stops it too
    non_finite=dict(type='NonFiniteGuardHook', action='stop'),
    empty_target=dict(type='EmptyTargetHook'))
randomness = dict(seed=0)
