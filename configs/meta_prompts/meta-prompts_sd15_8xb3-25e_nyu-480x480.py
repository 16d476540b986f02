# Meta Prompts depth, NYUv2, the official recipe (fudan-zvg/meta-prompts
# depth/train.sh and depth/train.py): 3 refinement loops, 50 prompts per
# loop, 480x480 crops resized to 512 ((480 // 64 + 1) * 64), 8 GPUs x 3
# images, 25 epochs with the VPD depth schedule, CutDepth on every 4th
# sample of a worker with raw depth (depth/dataset/base_dataset.py).
# Validation after every epoch and the test use the official protocol
# (train.sh: --flip_test --shift_window_test --shift_size 2; the best RMSE on
# it is kept): flip + 2 shift windows, batched. Single plain pass:
# --cfg-options model.test_cfg.flip=False model.test_cfg.shift_windows=1.
# Paper: RMSE 0.223, AbsRel 0.061, d1 0.976.
_base_ = [
    '../_base_/models/meta_prompts_depth_sd15.py', '../_base_/datasets/nyu.py',
    '../_base_/default_runtime.py', '../_base_/schedules/depth_official_25e.py'
]
official_test = dict(flip=True, shift_windows=2)
model = dict(resize_scale=1, decode_head=dict(max_depth=10),
             test_cfg=official_test)
tta_model = official_test
train_dataloader = dict(batch_size=3)
# The learning rate was tuned for 8 GPUs x 3 images.
auto_scale_lr = dict(enable=False, base_batch_size=24)
