# VPD referring segmentation, RefCOCO+ (UNC splits), SD1.5 + LAVT decoder,
# 8 GPUs x 4 images, 40 epochs, 512x512. Follows wl-zhao/VPD refer/train.sh
# and refer/README.md ("bash train.sh refcoco+ /path/to/logdir <NUM_GPUS> --token_length 40"),
# refer/train.py and refer/test.py. Released checkpoint: val oIoU 63.93, mIoU 67.98.
_base_ = [
    '../_base_/models/vpd_refer_sd15.py', '../_base_/datasets/refcoco.py',
    '../_base_/default_runtime.py', '../_base_/schedules/refer_40e.py'
]
# Everything that depends on the token length L comes from here: the
# padded sentence length and the attention-map channels (the decoder's input
# widths, [320, 640 + L, 1280 + L, 1280], are derived from the backbone).
token_length = 40
model = dict(
    backbone=dict(attn_maps=dict(num_tokens=token_length)),
    conditioner=dict(token_length=token_length))
_data = dict(dataset='refcoco+', split_by='unc')
train_dataloader = dict(batch_size=4, dataset=_data)
val_dataloader = dict(dataset=_data)
test_dataloader = val_dataloader
# The learning rate was set for 8 GPUs x 4 images.
auto_scale_lr = dict(enable=False, base_batch_size=32)
log_processor = dict(by_epoch=True)
