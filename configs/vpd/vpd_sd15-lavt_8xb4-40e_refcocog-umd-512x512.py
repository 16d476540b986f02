# VPD referring segmentation, G-Ref (RefCOCOg, UMD splits), SD1.5 + LAVT decoder,
# 8 GPUs x 4 images, 40 epochs, 512x512. Follows wl-zhao/VPD refer/train.sh
# and refer/README.md ("bash train.sh refcocog /path/to/logdir <NUM_GPUS> --token_length 77 --splitBy umd"),
# refer/train.py and refer/test.py. Released checkpoint: val oIoU 63.12, mIoU 66.42.
# The RefCOCO config with G-Ref's longer sentences: token length L = 77
# (the attention-map channels follow, see the RefCOCO config).
_base_ = ['./vpd_sd15-lavt_8xb4-40e_refcoco-512x512.py']
token_length = 77
model = dict(
    backbone=dict(attn_maps=dict(num_tokens=token_length)),
    conditioner=dict(token_length=token_length))
_data = dict(dataset='refcocog', split_by='umd')
train_dataloader = dict(dataset=_data)
val_dataloader = dict(dataset=_data)
test_dataloader = val_dataloader
