# Meta Prompts depth, KITTI (Eigen split), the official recipe
# (fudan-zvg/meta-prompts depth/train_kitti.sh): max depth 80 m, KB crop,
# 352x352 training crops resized to 448 ((352 // 64 + 2) * 64), 8 GPUs x 3
# images, 25 epochs; Garg crop at evaluation; test with flip + 16 shift
# windows of 352x352 along the 1216 px width (--tta), as the reference.
# Paper: RMSE 1.928, AbsRel 0.047.
_base_ = [
    '../_base_/models/meta_prompts_depth_sd15.py',
    '../_base_/datasets/kitti.py',
    '../_base_/default_runtime.py', '../_base_/schedules/depth_official_25e.py'
]
model = dict(resize_scale=2, decode_head=dict(max_depth=80))
tta_model = dict(flip=True, shift_windows=16)
train_dataloader = dict(batch_size=3)
auto_scale_lr = dict(enable=False, base_batch_size=24)
