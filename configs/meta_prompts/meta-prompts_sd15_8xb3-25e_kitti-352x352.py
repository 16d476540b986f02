# Meta Prompts depth, KITTI (Eigen split), the official recipe
# (fudan-zvg/meta-prompts depth/train_kitti.sh and depth/train.py): max
# depth 80 m, KB crop, 352x352 training crops resized to 448
# ((352 // 64 + 2) * 64), 8 GPUs x 3 images, 25 epochs, CutDepth on every
# 4th sample of a worker with raw depth (metres x 256,
# depth/dataset/base_dataset.py); Garg crop at evaluation. Validation after
# every epoch and the test use the official protocol (train_kitti.sh:
# --flip_test --shift_window_test --shift_size 16; the best RMSE on it is
# kept): flip + 16 shift windows of 352x352 along the 1216 px width, all 32
# views of an image in one batch. Single plain pass: --cfg-options
# model.test_cfg.flip=False model.test_cfg.shift_windows=1.
# Paper: RMSE 1.928, AbsRel 0.047.
_base_ = [
    '../_base_/models/meta_prompts_depth_sd15.py',
    '../_base_/datasets/kitti.py',
    '../_base_/default_runtime.py', '../_base_/schedules/depth_official_25e.py'
]
official_test = dict(flip=True, shift_windows=16)
model = dict(resize_scale=2, decode_head=dict(max_depth=80),
             test_cfg=official_test)
tta_model = official_test
train_dataloader = dict(batch_size=3)
auto_scale_lr = dict(enable=False, base_batch_size=24)
