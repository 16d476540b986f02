# COCO 2017 person keypoints, top-down (as mmpose's COCO configs):
#   data/coco/annotations/person_keypoints_{train,val}2017.json
#   data/coco/{train2017,val2017}/*.jpg
#   data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json
# Training on ground-truth boxes; evaluation on the detector boxes (person AP
# 56.4) or, with --cfg-options val_dataloader.dataset.bbox_file=None
# test_dataloader.dataset.bbox_file=None, on ground-truth boxes.
# The pipelines use the codec of the model config (`codec`).
dataset_type = 'CocoKeypointDataset'
data_root = 'data/coco/'
codec = dict(
    type='UDPHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TopdownGetBBoxCenterScale', padding=1.25),
    dict(type='TopdownRandomFlip', prob=0.5),
    dict(type='TopdownRandomHalfBody'),
    dict(type='TopdownRandomBBoxTransform'),
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
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/person_keypoints_val2017.json',
        bbox_file='person_detection_results/'
        'COCO_val2017_detections_AP_H_56_person.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoKeypointMetric',
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
