# NYU Depth v2 in the layout of the VPD reference (see configs/vpd/README.md):
# data/nyu_depth_v2/{sync,official_splits/test,train_list.txt,test_list.txt}
dataset_type = 'NYUDepthDataset'
data_root = 'data/nyu_depth_v2'
crop_size = (480, 480)
max_depth = 10.0
meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction', 'img_id')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthMap'),
    # The reference's CutDepth (wl-zhao/VPD and fudan-zvg/meta-prompts
    # depth/dataset/base_dataset.py, augment_training_data): every 4th
    # sample of a dataloader worker, the raw depth (mm) written into the
    # uint8 image. This project's variant (random with probability 0.25,
    # depth scaled to 0-255): dict(type='CutDepth', prob=0.25,
    # depth_values='scaled', max_depth=max_depth).
    dict(type='CutDepth', interval=4, depth_values='raw'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='DepthPhotometricAug'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthMap'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=3,
    num_workers=4,
    # the reference's workers start every epoch afresh, and with them the
    # CutDepth counter (depth/train.py: a DataLoader without
    # persistent_workers)
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    drop_last=True,  # as the reference's DataLoader (and its LR schedule)
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train_list.txt',
        data_prefix=dict(img_path='sync', depth_map_path='sync'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='test_list.txt',
        data_prefix=dict(
            img_path='official_splits/test',
            depth_map_path='official_splits/test'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='DepthMetric', min_depth=1e-3, max_depth=max_depth,
    crop_type='eigen')
test_evaluator = val_evaluator
