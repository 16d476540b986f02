"""DiffusionSegmentor on the tiny preset: loss, predict, slide, TTA, K."""
import pytest
from mmengine.config import ConfigDict
import torch
import torch.nn as nn
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from vpd.models.segmentors import (OFFICIAL_VPD_SEG_KEY_MAP,
                                   DiffusionSegmentor, map_official_key)
from vpd.registry import MODELS

K = 5


def seg_cfg(k=K, attn=True, **test_cfg):
    bb = dict(type='StableDiffusionBackbone', unet='tiny', vae='tiny',
              crop_output=True)
    extra = 0
    if attn:
        bb['attn_maps'] = dict(num_tokens=k, levels=(1, 2),
                               blocks=('down', 'up'))
        extra = k
    return dict(
        type='DiffusionSegmentor',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[127.5] * 3, std=[127.5] * 3,
            bgr_to_rgb=True, size=(64, 64), pad_val=0, seg_pad_val=255),
        backbone=bb,
        conditioner=dict(type='ClassEmbeddingConditioner', num_classes=k,
                         embed_dim=32),
        neck=dict(type='FPN', in_channels=[32, 64 + extra, 64 + extra, 64],
                  out_channels=32, num_outs=4),
        decode_head=dict(
            type='FPNHead', in_channels=[32] * 4, in_index=[0, 1, 2, 3],
            feature_strides=[8, 16, 32, 64], channels=32, dropout_ratio=0.1,
            num_classes=k, norm_cfg=dict(type='BN', requires_grad=True),
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                             loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=test_cfg or dict(mode='whole'))


def build(cfg):
    torch.manual_seed(0)
    return MODELS.build(cfg)


def samples(n, h, w, k=K, with_gt=True):
    out = []
    for i in range(n):
        s = SegDataSample(metainfo=dict(
            img_path=f'img_{i}.jpg', img_shape=(h, w), pad_shape=(h, w),
            ori_shape=(h, w)))
        if with_gt:
            gt = torch.randint(0, k, (1, h, w))
            gt[:, :2] = 255
            s.gt_sem_seg = PixelData(data=gt)
        out.append(s)
    return out


@pytest.fixture(scope='module')
def seg():
    return build(seg_cfg())


def test_build_and_names(seg):
    assert isinstance(seg, DiffusionSegmentor)
    assert seg.backbone.out_channels == [32, 64 + K, 64 + K, 64]
    names = dict(seg.named_parameters())
    buffers = dict(seg.named_buffers())
    assert 'conditioner.gamma' in names
    assert 'conditioner.text_adapter.fc.0.weight' in names
    assert 'conditioner.class_embeddings' in buffers
    assert any(n.startswith('backbone.unet.') for n in names)
    assert any(n.startswith('backbone.vae.encoder.') for n in names)
    assert any(n.startswith('neck.') for n in names)
    assert any(n.startswith('decode_head.') for n in names)


def test_loss_and_every_param_gets_a_gradient():
    """find_unused_parameters is not needed."""
    seg = build(seg_cfg())
    seg.train()
    losses = seg.loss(torch.randn(2, 3, 64, 64), samples(2, 64, 64))
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    loss = losses['decode.loss_ce']
    assert torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in seg.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing, missing
    assert all(not p.requires_grad for p in seg.backbone.vae.parameters())


def test_forward_modes(seg):
    seg.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = seg(x, samples(2, 64, 64), mode='tensor')
        assert out.shape == (2, K, 8, 8)
        res = seg(x, samples(2, 64, 64), mode='predict')
    assert res[0].pred_sem_seg.data.shape == (1, 64, 64)
    assert res[0].seg_logits.data.shape == (K, 64, 64)


@pytest.mark.parametrize('size', [(64, 64), (72, 100)])
def test_predict_whole_any_size(seg, size):
    """Odd sizes: backbone pads to 64, crops features back (crop_output)."""
    h, w = size
    seg.eval()
    data = dict(inputs=[torch.randint(0, 255, (3, h, w)).float()],
                data_samples=samples(1, h, w, with_gt=False))
    with torch.no_grad():
        res = seg.test_step(data)
    assert res[0].pred_sem_seg.data.shape == (1, h, w)
    assert res[0].pred_sem_seg.data.max() < K


def test_slide_inference():
    seg = build(seg_cfg(mode='slide', crop_size=(64, 64), stride=(42, 42)))
    seg.eval()
    x = torch.randn(1, 3, 64, 120)
    with torch.no_grad():
        res = seg.predict(x, samples(1, 64, 120, with_gt=False))
        assert res[0].pred_sem_seg.data.shape == (1, 64, 120)
        # one window covering the image == whole inference
        seg.test_cfg = ConfigDict(mode='slide', crop_size=(64, 128),
                            stride=(64, 128))
        slide = seg.predict(x, samples(1, 64, 120, with_gt=False))
        seg.test_cfg = ConfigDict(mode='whole')
        whole = seg.predict(x, samples(1, 64, 120, with_gt=False))
    torch.testing.assert_close(slide[0].seg_logits.data,
                               whole[0].seg_logits.data)


def test_tta_merges_views(seg):
    """mmseg's SegTTAModel on 2 scales x flip: each view's logits are put
    back in the original image space (resized, un-flipped) and the merged
    prediction is the argmax of their mean softmax."""
    import copy

    import torch.nn.functional as F
    tta = MODELS.build(dict(type='SegTTAModel', module=seg))
    seg.eval()
    torch.manual_seed(0)
    img = torch.randint(0, 255, (3, 64, 96)).float()
    # what TestTimeAug + the dataloader give: one entry per view
    views = dict(inputs=[], data_samples=[])
    for scale in (1.0, 1.5):
        h, w = int(64 * scale), int(96 * scale)
        scaled = F.interpolate(img[None], size=(h, w), mode='bilinear',
                               align_corners=False)[0]
        for flip in (False, True):
            s = SegDataSample(metainfo=dict(
                img_path='img_0.jpg', ori_shape=(64, 96), img_shape=(h, w),
                pad_shape=(h, w), scale_factor=(scale, scale), flip=flip,
                flip_direction='horizontal'))
            views['inputs'].append([scaled.flip(-1) if flip else scaled])
            views['data_samples'].append([s])
    with torch.no_grad():
        singles = [
            seg.test_step(dict(inputs=x, data_samples=copy.deepcopy(d)))[0]
            for x, d in zip(views['inputs'], views['data_samples'])
        ]
        merged = tta.test_step(views)
    assert len(merged) == 1
    probs = [v.seg_logits.data.softmax(0) for v in singles]
    assert all(p.shape == (K, 64, 96) for p in probs)  # original space
    # the flipped view is un-flipped: it equals the prediction for the
    # mirrored image (metainfo without flip) mirrored back
    raw = copy.deepcopy(views['data_samples'][1])
    raw[0].set_metainfo(dict(flip=False))
    with torch.no_grad():
        mirrored = seg.test_step(dict(inputs=views['inputs'][1],
                                      data_samples=raw))[0]
    torch.testing.assert_close(probs[1],
                               mirrored.seg_logits.data.softmax(0).flip(-1))
    assert not torch.allclose(probs[1], probs[1].flip(-1))
    expected = torch.stack(probs).mean(0).argmax(0)
    assert torch.equal(merged[0].pred_sem_seg.data[0], expected)


@pytest.mark.parametrize('k', [3, 8])
def test_channel_bookkeeping_follows_k(k):
    seg = build(seg_cfg(k=k))
    assert seg.backbone.out_channels == [32, 64 + k, 64 + k, 64]
    feats = seg.extract_feat(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [32] * 4
    assert seg.conditioner.num_tokens == k


def test_mismatched_neck_raises_clearly():
    cfg = seg_cfg(k=4)
    cfg['neck']['in_channels'] = [32, 64 + 5, 64 + 5, 64]
    with pytest.raises(ValueError, match=r'model\.neck\.in_channels='
                       r'\[32, 69, 69, 64\] .* K=4'):
        build(cfg)


def test_mismatched_tokens_raise():
    cfg = seg_cfg(k=4)
    cfg['conditioner']['num_classes'] = 6
    with pytest.raises(ValueError, match='num_tokens'):
        build(cfg)


def test_no_attention_maps():
    seg = build(seg_cfg(attn=False))
    assert seg.backbone.out_channels == [32, 64, 64, 64]
    seg.eval()
    with torch.no_grad():
        assert seg._forward(torch.randn(1, 3, 64, 64)).shape == (1, K, 8, 8)


# --- the conditioner protocol shared with Meta Prompts --------------------
@MODELS.register_module(force=True)
class _RecordingConditioner(nn.Module):
    """Per-loop contexts/time embeddings + prompts; records its inputs."""

    def __init__(self, num_loops=2, num_tokens=3, embed_dim=32,
                 time_embed_dim=128):
        super().__init__()
        self.num_loops = num_loops
        self.ctx = nn.Parameter(torch.randn(num_loops, num_tokens, embed_dim))
        self.t = nn.Parameter(torch.randn(num_loops, time_embed_dim))
        self.prompts = nn.Parameter(torch.randn(num_tokens, embed_dim))
        self.calls = []

    def forward(self, batch_size, data_samples=None):
        self.calls.append((batch_size, data_samples))
        return dict(
            context=[c.expand(batch_size, -1, -1) for c in self.ctx],
            time_embeds=[t.expand(batch_size, -1) for t in self.t],
            prompts=self.prompts.expand(batch_size, -1, -1))


@MODELS.register_module(force=True)
class _PromptNeck(nn.Module):
    uses_prompts = True

    def __init__(self, in_channels, out_channels=32):
        super().__init__()
        self.in_channels = in_channels
        self.convs = nn.ModuleList(
            nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.seen = None

    def forward(self, feats, prompts):
        self.seen = prompts.shape
        return [conv(f) * prompts.mean() for conv, f in zip(self.convs,
                                                             feats)]


def test_meta_prompts_protocol():
    cfg = seg_cfg(attn=False)
    cfg['backbone'].update(num_loops=2, use_time_embed=False)
    cfg['conditioner'] = dict(type='_RecordingConditioner')
    cfg['neck'] = dict(type='_PromptNeck', in_channels=[32, 64, 64, 64])
    seg = build(cfg)
    seg.train()
    smp = samples(2, 64, 64)
    loss = seg.loss(torch.randn(2, 3, 64, 64), smp)['decode.loss_ce']
    assert seg.neck.seen == (2, 3, 32)
    assert seg.conditioner.calls[-1] == (2, smp)  # the samples reach it
    loss.backward()
    assert seg.conditioner.t.grad is not None
    assert seg.conditioner.prompts.grad is not None
    # at inference the conditioner sees samples built from the metas
    seg.eval()
    seg.test_cfg = ConfigDict(mode='slide', crop_size=(64, 64), stride=(32, 32))
    with torch.no_grad():
        seg.predict(torch.randn(1, 3, 64, 96), samples(1, 64, 96, with_gt=False))
    b, got = seg.conditioner.calls[-1]
    assert b == 1 and got[0].img_path == 'img_0.jpg'


def test_official_key_map():
    assert map_official_key('encoder_vq.encoder.conv_in.weight') == (
        'backbone.vae.encoder.conv_in.weight', 'ldm-vae')
    assert map_official_key(
        'unet.unet.diffusion_model.input_blocks.0.0.weight') == (
            'backbone.unet.input_blocks.0.0.weight', 'ldm-unet')
    assert map_official_key('gamma') == ('conditioner.gamma', 'same')
    assert map_official_key('class_embeddings') == (
        'conditioner.class_embeddings', 'same')
    assert map_official_key('text_adapter.fc.0.bias') == (
        'conditioner.text_adapter.fc.0.bias', 'same')
    assert map_official_key('neck.lateral_convs.0.conv.weight')[0] == \
        'neck.lateral_convs.0.conv.weight'
    assert map_official_key('decode_head.conv_seg.weight')[1] == 'same'
    assert map_official_key('sd_model.betas') == ('', 'drop')
    assert map_official_key('something_else') is None
    # every 'same' target exists in the model
    seg = build(seg_cfg())
    state = seg.state_dict()
    for src, dst, rule in OFFICIAL_VPD_SEG_KEY_MAP:
        if rule == 'same' and not dst.endswith('.'):
            assert dst in state, dst
        elif dst is not None:
            assert any(k.startswith(dst) for k in state), dst
