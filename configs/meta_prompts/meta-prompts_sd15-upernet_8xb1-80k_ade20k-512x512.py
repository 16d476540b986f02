# Meta Prompts semantic segmentation, ADE20K (fudan-zvg/meta-prompts
# segmentation/configs/ade*.py): 3 refinement loops, 150 shared prompts,
# UPerHead (CE + Lovasz) + FCN auxiliary head, AdamW 8e-5 / wd 1e-3, UNet lr
# x0.1, warm-up 1500 iterations, poly to 0 at 80k, 8 GPUs x 1 image, 512x512
# crops; sliding-window test 512 / stride 341. Multi-scale + flip test:
# --tta, or the test-only config *_ms.py.
# Paper: 55.83 mIoU single-scale, 56.81 multi-scale + flip.
_base_ = [
    '../_base_/models/meta_prompts_seg_sd15.py',
    '../_base_/datasets/ade20k_vpd.py', '../_base_/default_runtime.py',
    '../_base_/schedules/seg_80k.py'
]
num_classes = 150
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=num_classes, dropout_ratio=0.0),
    auxiliary_head=dict(num_classes=num_classes, dropout_ratio=0.0),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
# The reference's multi-scale + flip test: (2048, 512) x 0.5 .. 2.0, each
# with and without a horizontal flip, softmax-averaged.
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='Resize',
                    scale=(int(2048 * r), int(512 * r)),
                    keep_ratio=True) for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations', reduce_zero_label=True)],
            [dict(type='PackSegInputs')],
        ])
]
train_dataloader = dict(batch_size=1, num_workers=4)
auto_scale_lr = dict(enable=False, base_batch_size=8)
