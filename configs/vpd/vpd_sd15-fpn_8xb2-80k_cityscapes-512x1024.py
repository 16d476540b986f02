# VPD semantic segmentation, Cityscapes (19 classes), SD1.5 + FPN, 8 GPUs x 2
# images, 80k iterations, 512x1024 crops (mmseg's standard Cityscapes crop;
# VPD published no Cityscapes recipe, see configs/vpd/README.md); sliding-
# window test 512x1024 / stride 341x683 (the 2/3 overlap of the ADE20K test).
# Optimiser and schedule of the official ADE20K recipe (wl-zhao/VPD
# segmentation/configs/fpn_vpd_sd1-5_512x512_gpu8x2.py), pipeline of
# mmseg's configs/_base_/datasets/cityscapes.py.
_base_ = [
    '../_base_/models/vpd_seg_sd15.py', '../_base_/datasets/cityscapes_vpd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/seg_80k.py'
]
# Everything that depends on the number of classes K comes from here (the
# FPN input widths are derived from the backbone).
num_classes = 19
crop_size = (512, 1024)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(attn_maps=dict(num_tokens=num_classes)),
    conditioner=dict(
        class_embeddings='checkpoints/cityscapes_class_embeddings.pth',
        num_classes=num_classes),
    decode_head=dict(num_classes=num_classes),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 683)))
train_dataloader = dict(batch_size=2, num_workers=8)
