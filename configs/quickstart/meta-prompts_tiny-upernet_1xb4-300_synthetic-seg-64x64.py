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
# The classifiers' init: mmseg's N(0, 0.01) is made for 512-channel heads;
# in these 32-channel heads it leaves the initial logits about 4x smaller
# than in the full-size head, and the model settled on the majority class
# (3 loops: 15.1 mIoU, the majority-class baseline, at every validation up
# to 300 iterations; 1 loop 24.4). std 0.1 is PyTorch's default scale for
# a 32-input 1x1 conv (1 / sqrt(3 * 32)). See configs/meta_prompts/README.md.
classifier_init = dict(type='Normal', std=0.1, override=dict(name='conv_seg'))
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
        norm_cfg=norm_cfg,
        init_cfg=classifier_init),
    auxiliary_head=dict(
        channels=32,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        init_cfg=classifier_init),
    test_cfg=dict(mode='whole'))
env_cfg = dict(cudnn_benchmark=False)
