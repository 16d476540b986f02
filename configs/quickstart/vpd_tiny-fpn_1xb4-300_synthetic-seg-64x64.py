# CPU quickstart / learning check of VPD segmentation: the tiny SD-shaped
# preset (random weights) on the synthetic textured-shapes set, 64x64, batch
# 4, 300 iterations (a few minutes on 2 CPU cores). First make the data and
# the tiny "pretrained" weights standing in for SD's (random UNet; a VAE
# encoder set to 8x8 average pooling: a random frozen VAE passes almost no
# image content on, see vpd/models/backbones/tiny_sd_stand_in.py):
#   python tools/dataset_converters/make_synthetic_seg.py data/synthetic_seg
#   python tools/misc/make_tiny_sd.py checkpoints/tiny_sd_pooling_vae.ckpt
#   python tools/train.py configs/quickstart/vpd_tiny-fpn_1xb4-300_synthetic-seg-64x64.py
# The class embeddings are seeded random vectors (class_embeddings=None):
# for tests and this check only; real configs name a CLIP embedding file.
_base_ = [
    '../_base_/models/vpd_seg_sd15.py', '../_base_/datasets/synthetic_seg.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/tiny_seg_300it.py'
]
num_classes = 5
crop_size = (64, 64)
norm_cfg = dict(type='BN', requires_grad=True)
# The classifier's init: mmseg's N(0, 0.01) is made for 512-channel heads;
# in this 64-channel FPNHead it kept the model on the majority class for
# the first ~30 iterations. std 0.1, as the Meta Prompts quickstart (see
# configs/meta_prompts/README.md, "CPU checks").
classifier_init = dict(type='Normal', std=0.1, override=dict(name='conv_seg'))
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        unet=dict(preset='tiny'),
        vae=dict(preset='tiny'),
        pretrained='checkpoints/tiny_sd_pooling_vae.ckpt',
        attn_maps=dict(num_tokens=num_classes)),
    conditioner=dict(class_embeddings=None, num_classes=num_classes),
    # derived: FPN in_channels = the tiny widths [32, 64, 64, 64] plus K
    # attention maps at 1/16 and 1/32; FPNHead in_channels = [64] * 4
    neck=dict(out_channels=64),
    decode_head=dict(
        channels=64,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        init_cfg=classifier_init),
    test_cfg=dict(mode='whole'))
env_cfg = dict(cudnn_benchmark=False)
