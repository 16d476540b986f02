# Meta Prompts semantic segmentation (Wan et al., 2023) on Stable Diffusion
# v1.5: one shared set of 150 learnable prompts (no adapter) replaces the
# text conditioning; 3 UNet loops with shared weights and a learnable time-
# embedding vector per loop (no time MLP); each UNet level is upsampled x2,
# projected to 768 (conv-GN-ReLU) and re-arranged with the prompts into 150
# maps at 1/4..1/32, decoded by mmseg's UPerHead (CE + Lovasz) with an FCN
# auxiliary head on the 1/16 maps. The number of prompts is independent of
# the number of classes (150 for Cityscapes too). Set `num_loops` in both the
# backbone and the conditioner.
# Put v1-5-pruned-emaonly.ckpt (or a diffusers folder) at `sd_pretrained`, or
# override: --cfg-options model.backbone.pretrained=/path/to/weights
sd_pretrained = 'checkpoints/v1-5-pruned-emaonly.ckpt'
# The UNet / VAE architecture is named once, as a dict (a preset plus any
# diffusers config key), e.g. a custom width:
#   --cfg-options model.backbone.unet.block_out_channels=[256,512,1024,1024]
# Every width that follows from it (conditioner embed_dim and
# time_embed_dim, neck in_channels and embed_dim, head in_channels) is
# derived when the model is built (vpd/models/backbones/derived_widths.py);
# a config that repeats one with another value is refused, naming both.
num_classes = 150
num_prompts = 150
num_loops = 3
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
        use_time_embed=False,
        num_loops=num_loops,
        pad_to=64,
        out_blocks=(11, 7, 4, 1),
        attn_maps=None,
        crop_output=True),
    conditioner=dict(
        type='MetaPromptConditioner',
        num_prompts=num_prompts,
        num_loops=num_loops,
        share_prompts=True,
        use_adapter=False),
    neck=dict(type='MetaPromptSegNeck', num_groups=16),
    # in_channels of both heads: the neck's maps, num_prompts per level
    decode_head=dict(
        type='UPerHead',
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.0,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=[
            # avg_non_ignore=False: mmseg's default, the official (mmseg
            # 0.x) mean over all pixels; set explicitly (mmseg warns
            # otherwise)
            dict(
                type='CrossEntropyLoss',
                loss_name='loss_ce',
                use_sigmoid=False,
                loss_weight=1.0,
                avg_non_ignore=False),
            dict(type='LovaszLoss', reduction='none', loss_weight=1.0)
        ]),
    auxiliary_head=dict(
        type='FCNHead',
        in_index=2,
        channels=512,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.0,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss',
            loss_name='loss_ce_aux',
            use_sigmoid=False,
            loss_weight=0.4,
            avg_non_ignore=False)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
# tools/test.py --tta: softmax-averaged predictions over `tta_pipeline`.
tta_model = dict(type='SegTTAModel')
