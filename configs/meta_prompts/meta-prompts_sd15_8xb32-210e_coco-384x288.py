# Meta Prompts top-down human pose, COCO 2017 keypoints, 384x288 crops
# (heatmaps 96x72): the 256x192 recipe
# (meta-prompts_sd15_8xb32-210e_coco-256x192.py) with the crop and sigma 3
# of mmpose's UDP 384x288 setting
# (td-hm_hrnet-w32_udp-8xb64-210e_coco-384x288.py; mmpose has no ViTPose
# 384x288 config; like it, the default 11-pixel DARK blur is kept).
# 288 is not a multiple of 64: the crop is zero-padded symmetrically to
# 384x320 before the VAE and the padding is cut off the stride-8 maps.
# 8 GPUs x 32 need UNet gradient checkpointing at this size (estimated
# 33 GB with it, over 80 GB without; README, "Pose").
_base_ = ['./meta-prompts_sd15_8xb32-210e_coco-256x192.py']
codec = dict(
    type='UDPHeatmap',
    input_size=(288, 384),
    heatmap_size=(72, 96),
    sigma=3)
model = dict(codec=codec, backbone=dict(gradient_checkpointing=True))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TopdownGetBBoxCenterScale', padding=1.25),
    dict(type='TopdownRandomFlip', prob=0.5),
    dict(type='TopdownRandomHalfBody'),
    dict(type='TopdownRandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='GenerateHeatmapTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TopdownGetBBoxCenterScale', padding=1.25),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='PackPoseInputs')
]
test_pipeline = val_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
