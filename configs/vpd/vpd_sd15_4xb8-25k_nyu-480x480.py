# VPD depth, mmsegmentation 1.2.2's recipe (configs/vpd): 4 GPUs x 8 images,
# 25k iterations, 480x480 crops; evaluated with flip + shift windows
# (mmseg's "slide_flip", crop 480, stride 160 = windows at x=0 and x=160).
# mmseg reports RMSE 0.253.
_base_ = [
    '../_base_/models/vpd_depth_sd15.py', '../_base_/datasets/nyu.py',
    '../_base_/default_runtime.py', '../_base_/schedules/depth_mmseg_25k.py'
]
model = dict(test_cfg=dict(flip=True, shift_windows=2))
train_dataloader = dict(
    batch_size=8, sampler=dict(type='InfiniteSampler', shuffle=True))
auto_scale_lr = dict(enable=False, base_batch_size=32)
