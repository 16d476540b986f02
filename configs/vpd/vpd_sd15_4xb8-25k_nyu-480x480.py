# VPD depth, mmsegmentation 1.2.2's recipe
# (mmseg configs/vpd/vpd_sd_4xb8-25k_nyu-480x480.py with
# configs/_base_/datasets/nyu.py and schedules/schedule_25k.py): 4 GPUs x 8
# images, 25k iterations, 480x480 crops; evaluated with flip + shift
# windows (mmseg's "slide_flip", crop 480, stride 160 = windows at x=0 and
# x=160). Behaves as mmseg's code, not VPD's:
# - loss: mmseg's own SiLogLoss (mmseg/models/losses/silog_loss.py, the
#   VPDDepthHead default): SiLog per image, then the batch mean (VPD's
#   pools all pixels of the batch);
# - scene class: mmseg's NYUDataset rule (mmseg/datasets/nyu.py, the exact
#   name before the first digit; unknown names take the appended mean row);
# - head: depth_pred_layer initialised TruncNormal(std=0.02) (mmseg's
#   VPDDepthHead init_cfg);
# - CutDepth: mmseg's own RandomDepthMix(prob=0.25), raw depth (mm) written
#   into the uint8 image.
# mmseg reports RMSE 0.253.
_base_ = [
    '../_base_/models/vpd_depth_sd15.py', '../_base_/datasets/nyu.py',
    '../_base_/default_runtime.py', '../_base_/schedules/depth_mmseg_25k.py'
]
crop_size = (480, 480)
model = dict(
    conditioner=dict(scene_rule='mmseg'),
    decode_head=dict(last_layer_init='trunc_normal'),
    loss=dict(_delete_=True, type='SiLogLoss'),
    test_cfg=dict(flip=True, shift_windows=2))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthMap'),
    dict(type='RandomDepthMix', prob=0.25),  # mmseg's transform
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='DepthPhotometricAug'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
auto_scale_lr = dict(enable=False, base_batch_size=32)
