# Test-only: meta-prompts_sd15-upernet_8xb1-80k_cityscapes-1024x1024.py
# evaluated with the reference's multi-scale (0.5 .. 2.0) + flip test
# (fudan-zvg/meta-prompts segmentation/configs/cityscapes_ms.py), without
# --tta:  python tools/test.py THIS_CONFIG CHECKPOINT
# (do not add --tta: the model is already the TTA wrapper).
_base_ = ['./meta-prompts_sd15-upernet_8xb1-80k_cityscapes-1024x1024.py']
model = dict(
    _delete_=True,
    type='SegTTAModel',
    module={{_base_.model}})
test_dataloader = dict(dataset=dict(pipeline={{_base_.tta_pipeline}}))
