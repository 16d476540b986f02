# Meta Prompts top-down human pose (Wan et al., 2023; the paper reports COCO
# val AP 79 but its pose code was never released, so this design is ours,
# in the paper's spirit and in the ViTPose / mmpose recipe family:
# mmpose td-hm_ViTPose-base_8xb64-210e_coco-256x192.py):
# person crop (codec input_size, w x h) -> frozen SD1.5 VAE encoder -> UNet
# with learnable meta prompts (one set of `num_prompts` per refinement loop,
# each with a Linear-GELU-Linear adapter, as Meta Prompts depth), 3 loops
# with shared weights and a learnable time vector per loop -> the Meta
# Prompts depth neck (all levels fused at stride 8, conv to 768, feature
# re-arrangement into `num_prompts` maps) -> heatmap head (one deconv to
# stride 4 + 1x1 conv to 17 heatmaps) -> keypoint MSE with target weights.
# UDP heatmaps, sigma 2 (MSRA: codec type='MSRAHeatmap' and
# TopdownAffine(use_udp=False) in the pipelines). Flip test: each crop and
# its mirror in one batch through the UNet.
# Widths that follow from the backbone (conditioner embed/time widths, neck
# in_channels, head in_channels) are derived when the model is built.
# `num_prompts`: N; `num_loops` goes to both the backbone and the
# conditioner. Upscaling the crop before the VAE (SD saw 64x64 latents):
# --cfg-options model.vae_input_size="(384,512)" model.head.deconv_out_channels="()" model.head.deconv_kernel_sizes="()"
sd_pretrained = 'checkpoints/v1-5-pruned-emaonly.ckpt'
num_loops = 3
num_prompts = 50
num_keypoints = 17
data_preprocessor = dict(
    type='ImgDataPreprocessor',
    mean=[127.5, 127.5, 127.5],  # images to [-1, 1], as the SD VAE expects
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True)
model = dict(
    type='DiffusionPoseEstimator',
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
    neck=dict(
        type='MetaPromptDepthNeck',
        num_filters=32,
        num_groups=16),
    head=dict(
        type='TopdownHeatmapHead',
        out_channels=num_keypoints,
        deconv_out_channels=(256, ),
        deconv_kernel_sizes=(4, )),
    # the same codec as the pipeline's GenerateHeatmapTarget (`codec` of
    # the dataset config); a leaf config that changes the crop sets both
    codec=dict(
        type='UDPHeatmap',
        input_size=(192, 256),
        heatmap_size=(48, 64),
        sigma=2),
    loss=dict(type='KeypointMSELoss', use_target_weight=True),
    vae_input_size=None,
    test_cfg=dict(flip_test=True, shift_heatmap=None))
