# KITTI Eigen split in the layout of the VPD / Meta Prompts references:
# data/kitti/{raw_data,data_depth_annotated,eigen_train_list.txt,
# eigen_test_list.txt}; KB crop to 352x1216, Garg crop at evaluation.
dataset_type = 'KITTIDepthDataset'
data_root = 'data/kitti'
crop_size = (352, 352)
max_depth = 80.0
meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction', 'img_id',
             'kb_crop_offset')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthMap'),
    dict(type='KBCrop'),
    # the reference's CutDepth (fudan-zvg/meta-prompts depth/dataset/
    # base_dataset.py): every 4th sample of a worker, the raw depth
    # (metres x 256) written into the uint8 image; see _base_/datasets/nyu.py
    dict(type='CutDepth', interval=4, depth_values='raw'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='DepthPhotometricAug'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthMap'),
    dict(type='KBCrop'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=3,
    num_workers=4,
    persistent_workers=False,  # the CutDepth counter restarts per epoch
    sampler=dict(type='DefaultSampler', shuffle=True),
    drop_last=True,  # as the reference's DataLoader (and its LR schedule)
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='eigen_train_list.txt',
        data_prefix=dict(img_path='', depth_map_path=''),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='eigen_test_list.txt',
        data_prefix=dict(img_path='', depth_map_path=''),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='DepthMetric', min_depth=1e-3, max_depth=max_depth,
    crop_type='garg', output_depth_scale=256.0)
test_evaluator = val_evaluator
