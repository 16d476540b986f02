# Meta Prompts depth (Wan et al., 2023) on Stable Diffusion v1.5: 50 learnable
# prompts per refinement loop (each with a Linear-GELU-Linear adapter) replace
# the text conditioning; 3 UNet loops with shared weights, each with its own
# learnable time-embedding vector (the UNet's time MLP is not built); loop
# i > 1 feeds the UNet's output conv of the previous 1/8 feature back in.
# Neck: all scales to 1/8, concat, conv to 768, re-arrangement with the last
# loop's prompts (50 maps); head: 3 deconvs + conv 192 + conv-ReLU-conv,
# sigmoid * max_depth. Input resized to (h // 64 + resize_scale) * 64.
# The number of loops is `num_loops` in both the backbone and the conditioner
# (e.g. --cfg-options model.backbone.num_loops=1
# model.conditioner.num_loops=1).
# Put v1-5-pruned-emaonly.ckpt (or a diffusers folder) at the path below, or
# override: --cfg-options model.backbone.pretrained=/path/to/weights
sd_pretrained = 'checkpoints/v1-5-pruned-emaonly.ckpt'
# The UNet / VAE architecture is named once, as a dict (a preset plus any
# diffusers config key), e.g. a custom width:
#   --cfg-options model.backbone.unet.block_out_channels=[256,512,1024,1024]
# Every width that follows from it (conditioner embed_dim and
# time_embed_dim, neck in_channels and embed_dim, head in_channels) is
# derived when the model is built (vpd/models/backbones/derived_widths.py);
# a config that repeats one with another value is refused, naming both.
num_loops = 3
num_prompts = 50
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=0,
    # training batches are stacked as they are (crops of one size)
    size_divisor=1)
model = dict(
    type='DiffusionDepthEstimator',
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
        attn_maps=None),
    conditioner=dict(
        type='MetaPromptConditioner',
        num_prompts=num_prompts,
        num_loops=num_loops,
        share_prompts=False,
        use_adapter=True),
    neck=dict(type='MetaPromptDepthNeck', num_filters=32, num_groups=16),
    # in_channels: one map per prompt (num_prompts)
    decode_head=dict(
        type='VPDDepthHead',
        channels=192,
        num_deconv=3,
        num_filters=[32, 32, 32],
        deconv_kernels=[2, 2, 2],
        num_upsample=0,
        max_depth=10),
    loss=dict(type='BatchSiLogLoss', lambd=0.5),
    input_mode='resize',
    resize_scale=1,
    test_cfg=dict(flip=False, shift_windows=1))
# tools/test.py --tta: the reference's test (flip + shift windows), all
# windows and flips of an image batched through one UNet call per loop.
tta_model = dict(type='DepthTTAModel', flip=True, shift_windows=2)
