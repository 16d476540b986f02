# VPD referring image segmentation (Zhao et al., ICCV 2023) on Stable
# Diffusion v1.5. Follows wl-zhao/VPD refer/models_refer/model.py (VPDRefer),
# vpd/models.py (UNetWrapper, TextAdapterRefer) and refer/lib/
# mask_predictor.py (SimpleDecoding). Each sentence is tokenised to
# `token_length` ids (padded with EOS), encoded by a frozen CLIP ViT-L/14
# text model (last_hidden_state, L x 768), refined by the text adapter
# (gamma 1e-4) and conditions the UNet at t = 1; the L head-averaged
# cross-attention maps of the down and up paths are concatenated onto the
# 1/16 and 1/32 features, so the LAVT decoder (hidden 640) sees
# [320, 640 + L, 1280 + L, 1280]; its 1/8 logits (2 classes) are upsampled
# to the input (align_corners=True); cross-entropy with class weights
# [0.9, 1.1]. A leaf config sets `token_length` (L) and the attention-map
# count from it.
# The UNet / VAE architecture is named once (`unet=dict(preset=...)`); the
# widths that follow from it are derived when the model is built
# (vpd/models/backbones/derived_widths.py): the conditioner's embed_dim (the
# UNet cross-attention width, 768) and the decoder's in_channels (the
# backbone's out_channels with the L attention-map channels,
# [320, 640 + L, 1280 + L, 1280] for SD1.5).
# Put v1-5-pruned-emaonly.ckpt (or a diffusers folder) at `sd_pretrained`
# and a local copy of openai/clip-vit-large-patch14 (transformers folder;
# nothing is downloaded) at `clip_text_encoder`, or override:
#   --cfg-options model.backbone.pretrained=... model.conditioner.text_encoder=...
sd_pretrained = 'checkpoints/v1-5-pruned-emaonly.ckpt'
clip_text_encoder = 'checkpoints/clip-vit-large-patch14'
token_length = 40
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[127.5, 127.5, 127.5],  # (x / 255 - 0.5) / 0.5, the reference's
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True,
    size_divisor=64,  # a no-op for 512x512 inputs (mmseg needs a size rule)
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='ReferringSegmentor',
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
            num_tokens=token_length, levels=(1, 2), blocks=('down', 'up')),
        crop_output=True),
    conditioner=dict(
        type='SentenceConditioner',
        text_encoder=clip_text_encoder,
        token_length=token_length,
        gamma_init=1e-4,
        # feature_file='checkpoints/refcoco_clip_features.safetensors',
        # (tools/misc/make_refer_text_features.py) skips the CLIP forward
    ),
    decode_head=dict(
        type='SimpleDecodingHead',
        in_index=[0, 1, 2, 3],
        channels=640,
        num_classes=2,
        norm_cfg=norm_cfg,
        align_corners=True,
        loss_decode=dict(
            type='WeightedCrossEntropyLoss',
            class_weight=[0.9, 1.1],
            loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
