# Meta Prompts semantic segmentation, Cityscapes, the training recipe of
# the official README (fudan-zvg/meta-prompts segmentation/README.md trains
# with segmentation/configs/cityscapes.py): 3 refinement loops, 150 shared
# prompts (independent of the 19 classes), UPerHead (CE + Lovasz, dropout
# 0.1) + FCN auxiliary head, AdamW lr 8e-5 / wd 1e-3 (cityscapes.py line
# 69), UNet lr x0.1, warm-up 1500 iterations, poly to 0 at 80k, 8 GPUs x 1
# image (cityscapes.py line 57, samples_per_gpu=1), 1024x1024 crops;
# sliding-window test 1024 / stride 512. Only the multi-scale test config
# cityscapes_ms.py has 2 images per GPU and lr 1.6e-4 (not a training
# recipe of the README). Multi-scale + flip test: --tta, or the test-only
# config *_ms.py.
# Paper: 84.38 mIoU single-scale, 85.77 multi-scale + flip.
_base_ = [
    '../_base_/models/meta_prompts_seg_sd15.py',
    '../_base_/datasets/cityscapes_vpd.py', '../_base_/default_runtime.py',
    '../_base_/schedules/seg_80k.py'
]
num_classes = 19
crop_size = (1024, 1024)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=num_classes, dropout_ratio=0.1),
    auxiliary_head=dict(num_classes=num_classes, dropout_ratio=0.1),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(512, 512)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 1024),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='Resize',
                    scale=(int(2048 * r), int(1024 * r)),
                    keep_ratio=True) for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
# lr 8e-5 comes from _base_/schedules/seg_80k.py
train_dataloader = dict(
    batch_size=1, num_workers=4, dataset=dict(pipeline=train_pipeline))
auto_scale_lr = dict(enable=False, base_batch_size=8)
