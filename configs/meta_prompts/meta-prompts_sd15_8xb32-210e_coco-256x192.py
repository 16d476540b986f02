# Meta Prompts top-down human pose, COCO 2017 keypoints, 256x192 crops.
# No official pose code exists (fudan-zvg/meta-prompts lists it as pending;
# the paper reports COCO val AP 79): the model is ours
# (configs/_base_/models/meta_prompts_pose_sd15.py) and the recipe follows
# ViTPose-B in mmpose (configs/body_2d_keypoint/topdown_heatmap/coco/
# td-hm_ViTPose-base_8xb64-210e_coco-256x192.py): UDP heatmaps sigma 2,
# flip test, AdamW 5e-4 for a global batch of 512 scaled by auto_scale_lr,
# wd 0.1, clip 1.0, 500-iteration warm-up, x0.1 at epochs 170 and 200, 210
# epochs; with the Meta Prompts multipliers (UNet lr x0.1, VAE frozen, no
# decay on norms) instead of ViT layer decay. 8 GPUs x 32 crops: estimated
# 60 of 80 GB without gradient checkpointing (configs/meta_prompts/README.md,
# "Pose": how it was estimated).
_base_ = [
    '../_base_/models/meta_prompts_pose_sd15.py',
    '../_base_/datasets/coco_keypoint.py', '../_base_/default_runtime.py',
    '../_base_/schedules/pose_210e.py'
]
train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader
log_processor = dict(by_epoch=True)
