# VPD depth (Zhao et al., ICCV 2023) on Stable Diffusion v1.5.
# Put v1-5-pruned-emaonly.ckpt (or a diffusers folder) at the path below, or
# override: --cfg-options model.backbone.pretrained=/path/to/weights
sd_pretrained = 'checkpoints/v1-5-pruned-emaonly.ckpt'
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
        unet='sd15',
        vae='sd15',
        pretrained=sd_pretrained,
        timestep=1,
        pad_to=64,
        out_blocks=(11, 7, 4, 1),
        attn_maps=None),
    conditioner=dict(
        type='ClassEmbeddingConditioner',
        class_embeddings='checkpoints/nyu_class_embeddings.pth',
        num_classes=27,
        embed_dim=768,
        mode='per_image',
        class_names=nyu_scene_classes,
        gamma_init=1e-4),
    neck=dict(
        type='VPDDepthNeck',
        in_channels=[320, 640, 1280, 1280],
        out_channels=1536),
    decode_head=dict(
        type='VPDDepthHead',
        in_channels=1536,
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
