# RefCOCO (UNC splits) in the REFER layout, as wl-zhao/VPD refer/ reads it
# (refer/data/dataset_refer_clip.py, refer/transforms.py, refer/train.py,
# refer/test.py):
#   data/refer/images/mscoco/images/train2014/COCO_train2014_*.jpg
#   data/refer/refcoco/{instances.json, refs(unc).p}
# (RefCOCO+: dataset='refcoco+'; G-Ref: dataset='refcocog', split_by='umd').
# Training: one sample per referred object, one of its sentences at random
# each time; images resized to exactly 512x512 (aspect not kept) with
# Pillow's bilinear filter and masks with Pillow's nearest, no augmentation
# (a horizontal flip would contradict "left" / "right" and is refused).
# Evaluation: every sentence; oIoU / mIoU / P@0.5:0.9 on the 512x512
# prediction against the mask resized the same way (the official protocol;
# ReferringMetric(resolution='original') compares at the image size).
dataset_type = 'ReferDataset'
data_root = 'data/refer'
refer_dataset = 'refcoco'
split_by = 'unc'
img_scale = (512, 512)
meta_keys = ('img_path', 'ori_shape', 'img_shape', 'pad_shape',
             'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
             'text', 'ref_id', 'sent_id')
train_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='LoadReferMask'),
    dict(type='Resize', scale=img_scale, keep_ratio=False, backend='pillow'),
    dict(type='PackSegInputs', meta_keys=meta_keys)
]
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='Resize', scale=img_scale, keep_ratio=False, backend='pillow'),
    # after Resize: the ground truth stays at the image's own size
    dict(type='LoadReferMask'),
    dict(type='PackSegInputs', meta_keys=meta_keys)
]
_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    dataset=refer_dataset,
    split_by=split_by,
    data_prefix=dict(img_path='images/mscoco/images/train2014'))
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(**_dataset, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **_dataset, split='val', test_mode=True, pipeline=test_pipeline))
# testA / testB (unc) or test (umd):
#   --cfg-options test_dataloader.dataset.split=testA
test_dataloader = val_dataloader
val_evaluator = dict(type='ReferringMetric', resolution='input')
test_evaluator = val_evaluator
