# The procedural coloured-shapes set of
# tools/dataset_converters/make_synthetic_refer.py in the REFER layout
# (dataset 'synthetic', UNC-style splits train / val), read and evaluated
# exactly as RefCOCO (configs/_base_/datasets/refcoco.py) at its own 64x64
# size. Make it with
#   python tools/dataset_converters/make_synthetic_refer.py data/synthetic_refer
# (defaults: 400 training / 60 validation images, 3 shapes each).
dataset_type = 'ReferDataset'
data_root = 'data/synthetic_refer'
img_scale = (64, 64)
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
    dict(type='LoadReferMask'),
    dict(type='PackSegInputs', meta_keys=meta_keys)
]
_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    dataset='synthetic',
    split_by='unc',
    data_prefix=dict(img_path='images/mscoco/images/train2014'))
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**_dataset, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **_dataset, split='val', test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReferringMetric', resolution='input')
test_evaluator = val_evaluator
