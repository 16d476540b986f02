# The procedural stick-figure set of
# tools/dataset_converters/make_synthetic_pose.py, in the COCO keypoint
# layout (person_keypoints_{train,val}2017.json, train2017/, val2017/, a
# detections file), read with the COCO dataset and metric. Make it with
#   python tools/dataset_converters/make_synthetic_pose.py data/synthetic_pose
# Crops of 48x64 (w x h), UDP heatmaps of 12x16.
dataset_type = 'CocoKeypointDataset'
data_root = 'data/synthetic_pose/'
codec = dict(
    type='UDPHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TopdownGetBBoxCenterScale', padding=1.25),
    dict(type='TopdownRandomFlip', prob=0.5),
    dict(type='TopdownRandomHalfBody'),
    dict(
        type='TopdownRandomBBoxTransform',
        scale_factor=(0.75, 1.25),
        rotate_factor=30.0),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='GenerateHeatmapTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TopdownGetBBoxCenterScale', padding=1.25),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='PackPoseInputs')
]
test_pipeline = val_pipeline
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/person_keypoints_val2017.json',
        bbox_file='person_detection_results/'
        'synthetic_val2017_detections.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoKeypointMetric',
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
