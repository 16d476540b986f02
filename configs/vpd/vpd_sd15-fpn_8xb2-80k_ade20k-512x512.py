# VPD semantic segmentation, ADE20K, SD1.5 + FPN, the official recipe
# (wl-zhao/VPD segmentation/configs/fpn_vpd_sd1-5_512x512_gpu8x2.py):
# 8 GPUs x 2 images, 80k iterations, 512x512 crops; sliding-window test
# 512 / stride 341. Class embeddings: the released
# segmentation/class_embeddings.pth ([150, 768]; the zoo's
# vpd-ade20k-class-embeddings: python tools/download.py
# vpd-ade20k-class-embeddings --dir checkpoints), not regenerated ones.
# Paper: 53.7 mIoU single-scale, 54.6 multi-scale + flip (--tta).
_base_ = [
    '../_base_/models/vpd_seg_sd15.py', '../_base_/datasets/ade20k_vpd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/seg_80k.py'
]
# Everything that depends on the number of classes K comes from here: the
# context tokens and the attention-map channels (the FPN input widths,
# [320, 640 + K, 1280 + K, 1280], are derived from the backbone).
num_classes = 150
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(attn_maps=dict(num_tokens=num_classes)),
    conditioner=dict(
        class_embeddings='checkpoints/ade20k_class_embeddings.pth',
        num_classes=num_classes),
    decode_head=dict(num_classes=num_classes),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
train_dataloader = dict(batch_size=2, num_workers=8)
