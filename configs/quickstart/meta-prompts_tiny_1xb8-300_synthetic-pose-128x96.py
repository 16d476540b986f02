# CPU quickstart of Meta Prompts top-down pose (end to end): the tiny
# SD-shaped preset on the synthetic stick-figure set (COCO layout), crops of
# 128x96 (h x w) with 32x24 UDP heatmaps, batch 8, 300 iterations, ONE
# refinement loop, evaluated on the set's detector boxes. It beats the
# trivial mean-pose baseline by a wide margin (configs/meta_prompts/README.md,
# CPU checks: AP and timings, 1 and 3 loops).
# Why 1 loop: the tiny UNet is random (no pretrained SD here); loops 2 and 3
# start from its random output conv of the previous loop's 1/8 feature, which
# keeps little of the image, so 3 loops learn several times slower on a CPU
# budget (measured in the README). The recipes keep 3 loops; for 3 loops here:
#   --cfg-options model.backbone.num_loops=3 model.conditioner.num_loops=3
# First make the data and the tiny "pretrained" weights standing in for SD's
# (random UNet, a VAE encoder set to 8x8 average pooling; see
# vpd/models/backbones/tiny_sd_stand_in.py). The README's pose figures were
# measured with the fully random UNet (--random-unet):
#   python tools/dataset_converters/make_synthetic_pose.py data/synthetic_pose
#   python tools/misc/make_tiny_sd.py checkpoints/tiny_sd_pooling_vae.ckpt \
#       --random-unet
#   python tools/train.py \
# configs/quickstart/meta-prompts_tiny_1xb8-300_synthetic-pose-128x96.py
# The trivial baseline (the training set's mean pose in every box):
#   python tools/analysis_tools/pose_mean_baseline.py \
# configs/quickstart/meta-prompts_tiny_1xb8-300_synthetic-pose-128x96.py
_base_ = [
    '../_base_/models/meta_prompts_pose_sd15.py',
    '../_base_/datasets/synthetic_pose.py', '../_base_/default_runtime.py'
]
num_prompts = 50
num_loops = 1
model = dict(
    backbone=dict(
        unet=dict(preset='tiny'),
        vae=dict(preset='tiny'),
        pretrained='checkpoints/tiny_sd_pooling_vae.ckpt',
        num_loops=num_loops),
    # widths follow from the tiny backbone; GroupNorm groups fit them
    conditioner=dict(num_prompts=num_prompts, num_loops=num_loops),
    neck=dict(num_groups=8),
    head=dict(deconv_out_channels=(64, )),
    codec={{_base_.codec}})
# Schedule: the random tiny UNet trains at the full learning rate (AdamW
# 1e-3, VAE frozen, no decay on norms); 20 warm-up iterations, then linear
# decay to 0; validation every 100 iterations, one checkpoint at the end.
max_iters = 300
optim_wrapper = dict(
    type='OptimWrapper',
    # mmseg's ForceDefault rules, logged as one summary line
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
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(
        type='ProgressLoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook'),
    # a NaN/Inf loss or gradient stops the run (action='skip' skips
    # the step); a whole epoch without a visible keypoint stops it too
    non_finite=dict(type='NonFiniteGuardHook', action='stop'),
    empty_target=dict(type='EmptyTargetHook'))
env_cfg = dict(cudnn_benchmark=False)
