# VPD semantic segmentation (Zhao et al., ICCV 2023) on Stable Diffusion v1.5:
# all K class embeddings (+ text adapter, gamma 1e-4) condition the UNet at
# t = 1; the head-averaged cross-attention maps (K channels) of the down and
# up paths are concatenated onto the 1/16 and 1/32 features, so the FPN sees
# [320, 640 + K, 1280 + K, 1280] (derived). K defaults to ADE20K's 150; a
# leaf config for another dataset sets `num_classes` and the K-dependent
# fields from it (see configs/vpd/*cityscapes*).
# Put v1-5-pruned-emaonly.ckpt (or a diffusers folder) at `sd_pretrained`, or
# override: --cfg-options model.backbone.pretrained=/path/to/weights
sd_pretrained = 'checkpoints/v1-5-pruned-emaonly.ckpt'
# The UNet / VAE architecture is named once, as a dict (a preset plus any
# diffusers config key), e.g. a custom width:
#   --cfg-options model.backbone.unet.block_out_channels=[256,512,1024,1024]
# Every width that follows from it (conditioner embed_dim, neck
# in_channels, head in_channels) is derived when the model is built
# (vpd/models/backbones/derived_widths.py); a config that repeats one with
# another value is refused, naming both.
num_classes = 150
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[127.5, 127.5, 127.5],  # images to [-1, 1], as the SD VAE expects
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True,
    size=(512, 512),  # the training crop
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='DiffusionSegmentor',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='StableDiffusionBackbone',
        unet=dict(preset='sd15'),
        vae=dict(preset='sd15'),
        pretrained=sd_pretrained,
        timestep=1,
        pad_to=64,
        out_blocks=(11, 7, 4, 1),
        attn_maps=dict(
            num_tokens=num_classes, levels=(1, 2), blocks=('down', 'up')),
        crop_output=True),
    conditioner=dict(
        type='ClassEmbeddingConditioner',
        # ADE20K: VPD's released segmentation/class_embeddings.pth (python
        # tools/download.py vpd-ade20k-class-embeddings --dir checkpoints)
        class_embeddings='checkpoints/ade20k_class_embeddings.pth',
        num_classes=num_classes,
        mode='all',
        gamma_init=1e-4),
    # in_channels: backbone.out_channels, [320, 640 + K, 1280 + K, 1280] for
    # SD1.5; the FPNHead's in_channels: the FPN outputs, [256] * 4
    neck=dict(type='FPN', out_channels=256, num_outs=4),
    decode_head=dict(
        type='FPNHead',
        in_index=[0, 1, 2, 3],
        feature_strides=[8, 16, 32, 64],
        channels=256,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        # avg_non_ignore=False: mmseg's default, the official (mmseg 0.x)
        # mean over all pixels; set explicitly (mmseg warns otherwise)
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=False)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
# tools/test.py --tta: softmax-averaged predictions over `tta_pipeline`.
tta_model = dict(type='SegTTAModel')
