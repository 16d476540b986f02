# CPU quickstart / learning check of VPD referring segmentation: the tiny
# SD-shaped preset on the synthetic coloured-shapes set (REFER layout,
# 64x64, sentences by colour / shape / position), batch 8, 600 iterations.
# First make the data and the tiny "pretrained" weights (random UNet; VAE
# encoder set to 8x8 average pooling, see vpd/models/backbones/tiny_sd_stand_in.py; a tiny
# random CLIP text model standing in for CLIP ViT-L/14):
#   python tools/dataset_converters/make_synthetic_refer.py data/synthetic_refer
#   python tools/misc/make_tiny_sd.py checkpoints/tiny_sd_pooling_vae.ckpt --random-unet \
#       --clip-text checkpoints/tiny_clip_text
#   python tools/train.py configs/quickstart/vpd_tiny-lavt_1xb8-600_synthetic-refer-64x64.py
# The model and recipe are configs/vpd/vpd_sd15-lavt_* (official
# wl-zhao/VPD refer/) at tiny widths; the tiny random UNet trains at a
# higher learning rate (AdamW 1e-3) than SD's pretrained one (5e-5).
_base_ = [
    '../_base_/models/vpd_refer_sd15.py',
    '../_base_/datasets/synthetic_refer.py', '../_base_/default_runtime.py'
]
# The longest synthetic sentence ("the yellow triangle in the middle") is
# 8 tokens with BOS / EOS.
token_length = 10
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        unet=dict(preset='tiny'),
        vae=dict(preset='tiny'),
        pretrained='checkpoints/tiny_sd_pooling_vae.ckpt',
        attn_maps=dict(num_tokens=token_length)),
    conditioner=dict(
        text_encoder='checkpoints/tiny_clip_text',
        token_length=token_length,
        cache_size=4096),  # the frozen text model runs once per sentence
    # derived: embed_dim = the tiny cross-attention width 32; the decoder's
    # in_channels = the tiny widths [32, 64, 64, 64] plus L attention maps
    # at 1/16 and 1/32
    decode_head=dict(
        channels=64,
        norm_cfg=norm_cfg))
max_iters = 600
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='SummaryOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-2),
    paramwise_cfg=dict(
        custom_keys={'backbone.vae': dict(lr_mult=0.0, decay_mult=0.0)}))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=0,
         end=max_iters)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(
        type='ProgressLoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # a checkpoint every 100 iterations: --resume after Ctrl-C loses little
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ReferringVisualizationHook', draw=False),
    # a NaN/Inf loss or gradient stops the run (action='skip' skips
    # the step); a whole epoch of masks without an object pixel stops it too
    non_finite=dict(type='NonFiniteGuardHook', action='stop'),
    empty_target=dict(type='EmptyTargetHook'))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
