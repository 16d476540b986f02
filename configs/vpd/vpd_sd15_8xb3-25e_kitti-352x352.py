# VPD depth on KITTI (Eigen split). The VPD paper reports no KITTI result;
# this is our recipe: the official NYU schedule (wl-zhao/VPD depth/train.sh,
# depth/train.py) and CutDepth, the Meta Prompts KITTI data handling
# (fudan-zvg/meta-prompts depth/dataset/kitti.py), KB crop, 352x352 training
# crops (padded to 384), max depth 80 m, Garg crop at evaluation, flip + 4
# shift windows with --tta. The context is all K KITTI scene embeddings
# (make them with tools/misc/make_class_embeddings.py --class-file, see
# configs/vpd/README.md).
_base_ = [
    '../_base_/models/vpd_depth_sd15.py', '../_base_/datasets/kitti.py',
    '../_base_/default_runtime.py', '../_base_/schedules/depth_official_25e.py'
]
model = dict(
    conditioner=dict(
        _delete_=True,
        type='ClassEmbeddingConditioner',
        class_embeddings='checkpoints/kitti_class_embeddings.pth',
        mode='all'),
    decode_head=dict(max_depth=80))
tta_model = dict(shift_windows=4)
train_dataloader = dict(batch_size=3)
auto_scale_lr = dict(enable=False, base_batch_size=24)
log_processor = dict(by_epoch=True)
