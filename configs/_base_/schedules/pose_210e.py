# Top-down pose schedule of ViTPose-B in mmpose
# (td-hm_ViTPose-base_8xb64-210e_coco-256x192.py): AdamW lr 5e-4, betas
# (0.9, 0.999), weight decay 0.1, gradient clipping at norm 1, linear warm-up
# over 500 iterations from 0.001, step decay x0.1 at epochs 170 and 200,
# 210 epochs, validation every 10 epochs keeping the best coco/AP. ViTPose's
# layer decay (a ViT thing) is replaced by the Meta Prompts multipliers of
# the segmentation recipe: UNet lr x0.1, VAE x0 (frozen), no weight decay on
# norm layers. lr 5e-4 is ViTPose's for a global batch of 512; auto_scale_lr
# (enabled) scales it linearly to the batch actually used.
optim_wrapper = dict(
    type='OptimWrapper',
    # mmseg's ForceDefault rules, logged as one summary line
    constructor='SummaryOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(
        force_default_settings=True,
        norm_decay_mult=0.0,
        custom_keys={
            'backbone.unet': dict(lr_mult=0.1),
            'backbone.vae': dict(lr_mult=0.0, decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR', begin=0, end=500, start_factor=0.001,
        by_epoch=False),
    dict(
        type='MultiStepLR',
        begin=0,
        end=210,
        milestones=[170, 200],
        gamma=0.1,
        by_epoch=True)
]
auto_scale_lr = dict(enable=True, base_batch_size=512)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=210, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='ProgressLoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        save_best='coco/AP',
        rule='greater',
        max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook'),
    # a NaN/Inf loss or gradient stops the run (action='skip' skips
    # the step); a whole epoch without a visible keypoint stops it too
    non_finite=dict(type='NonFiniteGuardHook', action='stop'),
    empty_target=dict(type='EmptyTargetHook'))
