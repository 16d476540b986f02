# VPD depth, the official recipe (wl-zhao/VPD depth/): 8 GPUs x 3 images,
# 25 epochs, 480x480 crops padded to 512, flip + 2 shift windows at test time
# (--tta). Paper: RMSE 0.254 on NYUv2.
_base_ = [
    '../_base_/models/vpd_depth_sd15.py', '../_base_/datasets/nyu.py',
    '../_base_/default_runtime.py', '../_base_/schedules/depth_official_25e.py'
]
train_dataloader = dict(batch_size=3)
# The learning rate was tuned for 8 GPUs x 3 images.
auto_scale_lr = dict(enable=False, base_batch_size=24)
log_processor = dict(by_epoch=True)
