# VPD depth (Zhao et al., ICCV 2023) on Stable Diffusion v1.5.
# Put v1-5-pruned-emaonly.ckpt (or a diffusers folder) at the path below, or
# override: --cfg-options model.backbone.pretrained=/path/to/weights
sd_pretrained = 'checkpoints/v1-5-pruned-emaonly.ckpt'
# The UNet / VAE architecture is named once, as a dict (a preset plus any
# diffusers config key), e.g. a custom width:
#   --cfg-options model.backbone.unet.block_out_channels=[256,512,1024,1024]
# Every width that follows from it (conditioner embed_dim, neck
# in_channels, head in_channels) is derived when the model is built
# (vpd/models/backbones/derived_widths.py); a config that repeats one with
# another value is refused, naming both.
# The 27 NYUv2 scene classes in the order of VPD's nyu_class_list.json (the
# row order of nyu_class_embeddings.pth; "excercise_room" spelled as there).
nyu_scene_classes = [
    'printer_room', 'bathroom', 'living_room', 'study', 'conference_room',
    'study_room', 'kitchen', 'home_office', 'bedroom', 'dinette', 'playroom',
    'indoor_balcony', 'laundry_room', 'basement', 'excercise_room', 'foyer',
    'home_storage', 'cafe', 'furniture_store', 'office_kitchen',
    'student_lounge', 'dining_room', 'reception_room', 'computer_lab',
    'classroom', 'office', 'bookstore'
]
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=0,
    # batches are stacked as they are (the backbone pads to 64 itself)
    size_divisor=1)
model = dict(
    type='DiffusionDepthEstimator',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='StableDiffusionBackbone',
        unet=dict(preset='sd15'),
        vae=dict(preset='sd15'),
        pretrained=sd_pretrained,
        timestep=1,
        pad_to=64,
        out_blocks=(11, 7, 4, 1),
        attn_maps=None),
    conditioner=dict(
        type='ClassEmbeddingConditioner',
        class_embeddings='checkpoints/nyu_class_embeddings.pth',
        num_classes=27,
        mode='per_image',
        class_names=nyu_scene_classes,
        gamma_init=1e-4),
    # in_channels: backbone.out_channels ([320, 640, 1280, 1280] for SD1.5)
    neck=dict(type='VPDDepthNeck', out_channels=1536),
    # in_channels: the neck's out_channels
    decode_head=dict(
        type='VPDDepthHead',
        channels=192,
        num_deconv=3,
        num_filters=[32, 32, 32],
        deconv_kernels=[2, 2, 2],
        num_upsample=2,
        max_depth=10),
    loss=dict(type='BatchSiLogLoss', lambd=0.5),
    input_mode='pad',
    test_cfg=dict(flip=False, shift_windows=1))
tta_model = dict(type='DepthTTAModel', flip=True, shift_windows=2)
