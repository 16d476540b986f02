# VPD depth, mmsegmentation 1.2.2's 512x512 recipe
# (mmseg configs/vpd/vpd_sd_4xb8-25k_nyu-512x512.py with
# configs/_base_/datasets/nyu_512x512.py): images resized to a short side of
# 512 (ratio 0.8-1.5) then cropped to 512; tested at short side 512 with
# flip + mmseg's sliding windows (slide_flip, crop 512, stride 128: for the
# 512x683 test image, x = 0, 128, 171). mmseg's loss (per-image SiLogLoss),
# scene-class rule, head init and RandomDepthMix, as the 480x480 port
# (vpd_sd15_4xb8-25k_nyu-480x480.py).
# mmseg reports RMSE 0.258.
_base_ = [
    '../_base_/models/vpd_depth_sd15.py', '../_base_/datasets/nyu.py',
    '../_base_/default_runtime.py', '../_base_/schedules/depth_mmseg_25k.py'
]
crop_size = (512, 512)
model = dict(
    conditioner=dict(scene_rule='mmseg'),
    decode_head=dict(last_layer_init='trunc_normal'),
    loss=dict(_delete_=True, type='SiLogLoss'),
    test_cfg=dict(flip=True, shift_windows=3, window_stride=128))
tta_model = dict(flip=True, shift_windows=3, window_stride=128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthMap'),
    dict(type='RandomDepthMix', prob=0.25),  # mmseg's transform
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomResize',
        scale=(768, 512),
        ratio_range=(0.8, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='DepthPhotometricAug'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadDepthMap', check_shape=False),
    dict(
        type='PackSegInputs',
        meta_keys=('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
                   'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                   'img_id')),
]
train_dataloader = dict(
    batch_size=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False, base_batch_size=32)
