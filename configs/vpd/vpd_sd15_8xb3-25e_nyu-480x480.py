# VPD depth, the official recipe (wl-zhao/VPD depth/train.sh and
# depth/train.py): 8 GPUs x 3 images, 25 epochs, 480x480 crops padded to
# 512, CutDepth on every 4th sample of a worker with raw depth
# (depth/dataset/base_dataset.py). Validation after every epoch and the test
# both use the official protocol (train.sh: --flip_test --shift_window_test
# --shift_size 2; train.py validate(): the best RMSE on it is kept), so
# save_best picks the epoch the reference would: flip + 2 shift windows,
# all views of an image in one batch. A single plain pass instead (faster
# validation): --cfg-options model.test_cfg.flip=False
# model.test_cfg.shift_windows=1. Paper: RMSE 0.254 on NYUv2.
_base_ = [
    '../_base_/models/vpd_depth_sd15.py', '../_base_/datasets/nyu.py',
    '../_base_/default_runtime.py', '../_base_/schedules/depth_official_25e.py'
]
official_test = dict(flip=True, shift_windows=2)
model = dict(test_cfg=official_test)
tta_model = official_test
train_dataloader = dict(batch_size=3)
# The learning rate was tuned for 8 GPUs x 3 images.
auto_scale_lr = dict(enable=False, base_batch_size=24)
log_processor = dict(by_epoch=True)
