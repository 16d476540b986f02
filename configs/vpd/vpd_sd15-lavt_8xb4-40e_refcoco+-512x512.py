# VPD referring segmentation, RefCOCO+ (UNC splits), SD1.5 + LAVT decoder,
# 8 GPUs x 4 images, 40 epochs, 512x512. Follows wl-zhao/VPD refer/train.sh
# and refer/README.md ("bash train.sh refcoco+ /path/to/logdir <NUM_GPUS> --token_length 40"),
# refer/train.py and refer/test.py. Released checkpoint: val oIoU 63.93, mIoU 67.98.
_base_ = [
    '../_base_/models/vpd_refer_sd15.py', '../_base_/datasets/refcoco.py',
    '../_base_/default_runtime.py', '../_base_/schedules/refer_40e.py'
]
# Everything that depends on the token length L comes from here: the
# padded sentence length, the attention-map channels and the decoder widths.
token_length = 40
model = dict(
    backbone=dict(attn_maps=dict(num_tokens=token_length)),
    conditioner=dict(token_length=token_length),
    decode_head=dict(
        in_channels=[320, 640 + token_length, 1280 + token_length, 1280]))
_data = dict(dataset='refcoco+', split_by='unc')
train_dataloader = dict(batch_size=4, dataset=_data)
val_dataloader = dict(dataset=_data)
test_dataloader = val_dataloader
# The learning rate was set for 8 GPUs x 4 images.
auto_scale_lr = dict(enable=False, base_batch_size=32)
log_processor = dict(by_epoch=True)
