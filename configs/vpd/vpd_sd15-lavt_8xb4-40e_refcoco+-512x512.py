# VPD referring segmentation, RefCOCO+ (UNC splits), SD1.5 + LAVT decoder,
# 8 GPUs x 4 images, 40 epochs, 512x512. Follows wl-zhao/VPD refer/train.sh
# and refer/README.md ("bash train.sh refcoco+ /path/to/logdir <NUM_GPUS> --token_length 40"),
# refer/train.py and refer/test.py. Released checkpoint: val oIoU 63.93, mIoU 67.98.
# Same model and recipe as the RefCOCO config; only the data differ.
_base_ = ['./vpd_sd15-lavt_8xb4-40e_refcoco-512x512.py']
_data = dict(dataset='refcoco+', split_by='unc')
train_dataloader = dict(dataset=_data)
val_dataloader = dict(dataset=_data)
test_dataloader = val_dataloader
