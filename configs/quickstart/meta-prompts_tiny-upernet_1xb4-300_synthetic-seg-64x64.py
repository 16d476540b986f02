# CPU quickstart / learning check of Meta Prompts segmentation: the tiny
# SD-shaped preset on the synthetic textured-shapes set, 64x64, batch 4,
# 300 iterations, 3 refinement loops (1 loop:
# --cfg-options model.backbone.num_loops=1 model.conditioner.num_loops=1).
# First make the data and the tiny "pretrained" weights that stand in for
# SD's (a VAE encoder set to 8x8 average pooling: a random frozen VAE passes
# almost no image content on; a random UNet whose output conv passes the
# latent back, which the refinement loops feed on; see
# vpd/models/backbones/tiny_sd_stand_in.py; the method is unchanged):
#   python tools/dataset_converters/make_synthetic_seg.py data/synthetic_seg
#   python tools/misc/make_tiny_sd.py checkpoints/tiny_sd_pooling_vae.ckpt
#   python tools/train.py \
# configs/quickstart/meta-prompts_tiny-upernet_1xb4-300_synthetic-seg-64x64.py
_base_ = [
    '../_base_/models/meta_prompts_seg_sd15.py',
    '../_base_/datasets/synthetic_seg.py', '../_base_/default_runtime.py',
    '../_base_/schedules/tiny_seg_300it.py'
]
num_classes = 5
# More prompts than classes (the paper: 150 for ADE20K's 150 classes and for
# Cityscapes' 19): 16 prompts learn markedly slower on this set.
num_prompts = 64
crop_size = (64, 64)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        unet=dict(preset='tiny'),
        vae=dict(preset='tiny'),
        pretrained='checkpoints/tiny_sd_pooling_vae.ckpt'),
    # derived: cross-attention 32, time embedding 4 * 32, neck widths, the
    # heads' num_prompts inputs
    conditioner=dict(num_prompts=num_prompts),
    neck=dict(num_groups=8),
    decode_head=dict(
        channels=32,
        num_classes=num_classes,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        channels=32,
        num_classes=num_classes,
        norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))
env_cfg = dict(cudnn_benchmark=False)
