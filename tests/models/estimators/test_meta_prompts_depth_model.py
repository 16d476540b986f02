"""Meta Prompts depth on the tiny preset: recurrent loops, gradients, names.

DiffusionDepthEstimator + StableDiffusionBackbone(use_time_embed=False,
num_loops=K) + MetaPromptConditioner + MetaPromptDepthNeck + VPDDepthHead
(num_upsample=0), input resized to (h // 64 + resize_scale) * 64.
"""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from vpd.models.conditioners.meta_prompt_conditioner import (
    OFFICIAL_MP_CONDITIONER_KEY_MAP, map_official_key)
from vpd.models.necks.meta_prompt_depth_neck import OFFICIAL_MP_DEPTH_KEY_MAP
from vpd.registry import MODELS

C, N, D = 32, 50, 128  # tiny cross-attention width, prompts, time-embed dim
TINY = [32, 64, 64, 64]


def mp_depth_cfg(num_loops=3, resize_scale=0, **conditioner):
    cond = dict(type='MetaPromptConditioner', num_prompts=N, embed_dim=C,
                num_loops=num_loops, time_embed_dim=D)
    cond.update(conditioner)
    return dict(
        type='DiffusionDepthEstimator',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[127.5] * 3,
                               std=[127.5] * 3, bgr_to_rgb=True),
        backbone=dict(type='StableDiffusionBackbone', unet='tiny',
                      vae='tiny', use_time_embed=False, num_loops=num_loops),
        conditioner=cond,
        neck=dict(type='MetaPromptDepthNeck', in_channels=TINY,
                  embed_dim=C),
        decode_head=dict(type='VPDDepthHead', in_channels=N, channels=32,
                         num_deconv=3, num_filters=[32, 32, 32],
                         deconv_kernels=[2, 2, 2], num_upsample=0,
                         max_depth=10),
        loss=dict(type='BatchSiLogLoss', lambd=0.5),
        input_mode='resize',
        resize_scale=resize_scale)


def build(num_loops=3, resize_scale=0, **kw):
    # resize_scale 0 keeps 64 px inputs at 64 px (fast); the reference's
    # NYU value 1 is checked in test_forward_and_input_resize.
    torch.manual_seed(0)
    return MODELS.build(mp_depth_cfg(num_loops, resize_scale, **kw))


@pytest.fixture(scope='module')
def model3():
    return build(3)


def _samples(b, h, w):
    samples = []
    for _ in range(b):
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        s.gt_depth_map = PixelData(data=torch.rand(1, h, w) * 9 + 0.5)
        samples.append(s)
    return samples


@pytest.mark.parametrize('num_loops', [1, 3])
def test_forward_and_input_resize(num_loops):
    model = build(num_loops, resize_scale=1)
    seen = []
    handle = model.backbone.register_forward_pre_hook(
        lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    depth = model(torch.randn(2, 3, 64, 96), mode='tensor')
    handle.remove()
    assert depth.shape == (2, 1, 64, 96)
    assert ((depth > 0) & (depth < 10)).all()
    assert seen == [(128, 128)]  # (64 // 64 + 1) * 64, (96 // 64 + 1) * 64


def test_recurrent_input_path_time_vectors_and_prompts(model3):
    """Loop i > 1 gets the output conv of loop i-1's 1/8 feature, its own
    time vector and prompts; only the last loop's features reach the neck,
    re-arranged with the last loop's prompts."""
    model = model3.eval()
    unet = model.backbone.unet
    rec = {'conv_in': [], 'finest': [], 'temb': [], 'ctx': [], 'neck': None}
    hooks = [
        unet.conv_in.register_forward_pre_hook(
            lambda m, a: rec['conv_in'].append(a[0])),
        unet.up_blocks[-1].register_forward_hook(
            lambda m, a, out: rec['finest'].append(out)),
        unet.down_blocks[0].resnets[0].register_forward_pre_hook(
            lambda m, a: rec['temb'].append(a[1])),
        unet.down_blocks[0].attentions[0].register_forward_pre_hook(
            lambda m, a, kw: rec['ctx'].append(kw['encoder_hidden_states']),
            with_kwargs=True),
        model.neck.register_forward_pre_hook(
            lambda m, a: rec.__setitem__('neck', a)),
    ]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        model(x, mode='tensor')
        for h in hooks:
            h.remove()
        assert len(rec['conv_in']) == 3 and len(rec['finest']) == 3
        # resize_scale 0: a 64 px input stays 64 px
        torch.testing.assert_close(rec['conv_in'][0], model.backbone.encode(x))
        for i in (1, 2):
            prev = rec['finest'][i - 1]
            assert prev.shape == (1, TINY[0], 8, 8)  # the 1/8 feature
            fed = unet.conv_out(F.silu(unet.conv_norm_out(prev)))
            torch.testing.assert_close(rec['conv_in'][i], fed)
        cond = model.conditioner
        for i in range(3):
            torch.testing.assert_close(rec['temb'][i],
                                       getattr(cond, f't{i + 1}'))
            adapted = getattr(cond, f'text_adapter{i + 1}').fc(
                getattr(cond, f'meta_prompts{i + 1}'))
            torch.testing.assert_close(rec['ctx'][i][0], adapted)
        feats, prompts = rec['neck']
        torch.testing.assert_close(feats[0], rec['finest'][2])
        torch.testing.assert_close(prompts, rec['ctx'][2])
    model.train()


def test_gradients_reach_prompts_time_vectors_adapters_and_unet():
    model = build(3).train()
    losses = model(torch.randn(2, 3, 64, 64), _samples(2, 64, 64),
                   mode='loss')
    assert list(losses) == ['loss_silog']  # one loss, applied once
    sum(losses.values()).backward()
    no_grad = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None
                                       or p.grad.abs().sum() == 0)]
    assert not no_grad, no_grad[:10]
    cond = dict(model.conditioner.named_parameters())
    assert {f'meta_prompts{i}' for i in (1, 2, 3)} <= set(cond)
    assert {f't{i}' for i in (1, 2, 3)} <= set(cond)
    assert all(p.grad is None for p in model.backbone.vae.parameters())


def test_loss_applied_once_on_the_final_prediction():
    model = build(2).train()
    x, samples = torch.randn(2, 3, 64, 64), _samples(2, 64, 64)
    losses = model(x, samples, mode='loss')
    assert len(losses) == 1
    (name, value), = losses.items()
    pred = model.extract_depth(x, samples)
    gt = torch.stack([s.gt_depth_map.data for s in samples])
    torch.testing.assert_close(value, model.loss_decode(pred, gt))


def test_unet_weights_shared_across_loops():
    counts = {}
    for k in (1, 2, 3, 5):
        model = build(k)
        counts[k] = sum(p.numel() for p in model.backbone.unet.parameters())
        # one UNet, one output conv: nothing per loop in the backbone
        assert not any('cross_unet_conv' in n
                       for n, _ in model.named_parameters())
        n_cond = sum(p.numel() for p in model.conditioner.parameters())
        per_loop = N * C + D + 2 * (C * C + C)
        assert n_cond == k * per_loop
    assert counts[2] == counts[3] == counts[5]
    out_conv = (2 * TINY[0]) + (TINY[0] * 4 * 9 + 4)  # GN + conv 32 -> 4
    assert counts[1] == counts[3] - out_conv  # K = 1 has no feedback conv


def test_tta_batched_equals_one_window_at_a_time(model3):
    model = model3.eval()
    model.test_cfg = dict(flip=True, shift_windows=2)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        batched = model.inference(x)
        out = torch.zeros(1, 1, 64, 96)
        count = torch.zeros(1, 1, 64, 96)
        for x0 in (0, 32):
            crop = x[..., x0:x0 + 64]
            d = (model.extract_depth(crop) +
                 model.extract_depth(crop.flip(-1)).flip(-1)) / 2
            out[..., x0:x0 + 64] += d
            count[..., x0:x0 + 64] += 1
    model.test_cfg = {}
    model.train()
    torch.testing.assert_close(batched, out / count, atol=1e-5, rtol=1e-4)


def _official_depth_shapes(c=TINY, text_dim=C, n=N, k=3, filters=32,
                           head_c=32):
    """Key -> shape of the official MetaPromptDepth's non-SD parameters
    and buffers (and the output conv saved as cross_unet_conv{i}), for the
    given sizes, written from the reference's module structure."""
    shapes = {}

    def conv(p, cin, cout, ks, bias=True):
        shapes[p + '.weight'] = (cout, cin, ks, ks)
        if bias:
            shapes[p + '.bias'] = (cout, )

    def deconv(p, cin, cout, ks):
        shapes[p + '.weight'] = (cin, cout, ks, ks)

    def norm(p, ch, bn=False):
        shapes[p + '.weight'] = shapes[p + '.bias'] = (ch, )
        if bn:
            shapes[p + '.running_mean'] = shapes[p + '.running_var'] = (ch, )
            shapes[p + '.num_batches_tracked'] = ()

    def decoder(p, cin, cout, n_deconv, ks):
        ch = cin
        for j in range(n_deconv):
            deconv(f'{p}.deconv_layers.{3 * j}', ch, filters, ks)
            norm(f'{p}.deconv_layers.{3 * j + 1}', filters, bn=True)
            ch = filters
        conv(f'{p}.conv_layers.0', filters, cout, 3)
        norm(f'{p}.conv_layers.1', cout, bn=True)

    conv('encoder.layer1.0', c[0], c[0], 3)
    norm('encoder.layer1.1', c[0])
    for i in (2, 3, 4):
        decoder(f'encoder.layer{i}', c[i - 1], c[i - 1], i - 1, 4)
    conv('encoder.out_layer.0', sum(c), text_dim, 3)
    norm('encoder.out_layer.1', text_dim)
    for i in range(1, k + 1):
        shapes[f'encoder.t{i}'] = (1, 4 * c[0])
        shapes[f'encoder.meta_prompts{i}'] = (n, text_dim)
        for j in (0, 2):
            shapes[f'encoder.text_adapter{i}.fc.{j}.weight'] = (text_dim,
                                                                text_dim)
            shapes[f'encoder.text_adapter{i}.fc.{j}.bias'] = (text_dim, )
        if i > 1:
            norm(f'encoder.cross_unet_conv{i}.0', c[0])
            conv(f'encoder.cross_unet_conv{i}.2', c[0], 4, 3)
    decoder('decoder', n, head_c, 3, 2)
    conv('last_layer_depth.0', head_c, head_c, 3)
    conv('last_layer_depth.2', head_c, 1, 3)
    return shapes


def test_official_depth_names_map_one_to_one(model3):
    table = (OFFICIAL_MP_CONDITIONER_KEY_MAP['depth'] +
             OFFICIAL_MP_DEPTH_KEY_MAP)
    ours = {k: tuple(v.shape) for k, v in model3.state_dict().items()}
    hit = set()
    for key, shape in _official_depth_shapes().items():
        mapped = map_official_key(key, table)
        assert mapped is not None, key
        new, rule = mapped
        assert rule in ('same', 'duplicate'), (key, rule)
        assert new in ours, (key, new)
        assert ours[new] == shape, (key, new, ours[new], shape)
        hit.add(new)
    not_sd = {k for k in ours if not k.startswith('backbone.')}
    assert not_sd <= hit, sorted(not_sd - hit)[:10]
    # the UNet output conv (shared feedback) is reached by cross_unet_conv*
    assert {'backbone.unet.conv_out.weight',
            'backbone.unet.conv_norm_out.weight'} <= hit
    # ldm UNet / VAE keys go through the ldm -> diffusers conversion
    assert map_official_key('encoder.unet.unet.diffusion_model.out.2.weight',
                            table) == ('backbone.unet.out.2.weight',
                                       'ldm-unet')
    assert map_official_key('encoder.encoder_vq.quant_conv.weight',
                            table)[1] == 'ldm-vae'
