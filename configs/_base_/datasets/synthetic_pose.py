# The procedural stick-figure set of
# tools/dataset_converters/make_synthetic_pose.py, in the COCO keypoint
# layout (person_keypoints_{train,val}2017.json, train2017/, val2017/, a
# detections file), read like COCO (coco_keypoint.py: same dataset, metric
# and dataloaders; only the root, the detections file, the crop and the
# augmentation differ). Make it with
#   python tools/dataset_converters/make_synthetic_pose.py data/synthetic_pose
# Crops of 96x128 (w x h): a figure of the 128 px images keeps about its
# resolution and the VAE's 8x downsampling leaves 12x16 latents; UDP heatmaps
# of 24x32, sigma 2. Box jitter milder than COCO's (scale 0.75-1.25,
# rotation up to 30 degrees): the figures already vary in pose and size.
_base_ = ['./coco_keypoint.py']
data_root = 'data/synthetic_pose/'
codec = dict(
    type='UDPHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2)
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
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        bbox_file='person_detection_results/'
        'synthetic_val2017_detections.json',
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
