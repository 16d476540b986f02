"""StableDiffusionBackbone: pyramid, attention maps, gradients, loading."""
import math

import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor

from vpd.models.backbones import StableDiffusionBackbone
from vpd.models.backbones.cross_attention_map_processor import \
    CrossAttentionMapProcessor
from vpd.models.backbones.sd_weights import (build_sd_models, resolve_arch,
                                             to_ldm_checkpoint)


def _tiny(**kw):
    torch.manual_seed(0)
    return StableDiffusionBackbone(unet='tiny', vae='tiny', **kw)


@pytest.fixture(scope='module')
def tiny():
    return _tiny()


@pytest.mark.parametrize('size', [(64, 64), (96, 128), (100, 70), (33, 65)])
def test_pyramid_shapes_tiny(tiny, size):
    h, w = size
    feats = tiny(torch.randn(2, 3, h, w), torch.randn(2, 3, 32))
    ph, pw = math.ceil(h / 64) * 64, math.ceil(w / 64) * 64
    assert tiny.out_channels == [32, 64, 64, 64]
    assert tiny.out_strides == [8, 16, 32, 64]
    for f, c, s in zip(feats, tiny.out_channels, tiny.out_strides):
        assert f.shape == (2, c, ph // s, pw // s)


def test_crop_output():
    bb = _tiny(crop_output=True)
    feats = bb(torch.randn(1, 3, 100, 70), torch.randn(1, 1, 32))
    assert [tuple(f.shape[-2:]) for f in feats] == [(13, 9), (7, 5), (4, 3),
                                                    (2, 2)]


def test_output_shape_and_dropped_modules(tiny):
    assert tiny.output_shape()[0] == dict(channels=32, stride=8)
    assert not hasattr(tiny.vae, 'decoder')
    assert not hasattr(tiny.unet, 'conv_out')  # VPD deletes ldm's `out`
    assert all(not p.requires_grad for p in tiny.vae.parameters())


def test_vae_stays_eval(tiny):
    tiny.train()
    assert tiny.training and not tiny.vae.training


def test_attention_maps_shapes_and_normalisation():
    k = 5
    bb = _tiny(attn_maps=dict(num_tokens=k))
    assert bb.out_channels == [32, 64 + k, 64 + k, 64]
    # Only the selected cross-attention layers record; the rest use SDPA.
    procs = bb.unet.attn_processors
    recording = [n for n, p in procs.items()
                 if isinstance(p, CrossAttentionMapProcessor)]
    assert recording and all('attn2' in n for n in recording)
    assert not any(n.startswith('down_blocks.0') or n.startswith(
        'up_blocks.3') for n in recording)  # the 1/8 level is skipped
    feats = bb(torch.randn(2, 3, 128, 128), torch.randn(2, k, 32))
    assert feats[1].shape == (2, 64 + k, 8, 8)
    assert feats[2].shape == (2, 64 + k, 4, 4)
    # rows of every stored map sum to 1 over the K tokens
    for level, maps in bb.attn_store.maps.items():
        assert len(maps) > 0
        for m in maps:
            torch.testing.assert_close(m.sum(-1), torch.ones_like(m[..., 0]))
    # the concatenated maps are their average (so also sum to 1)
    torch.testing.assert_close(feats[1][:, -k:].sum(1),
                               torch.ones(2, 8, 8))
    torch.testing.assert_close(feats[2][:, -k:].sum(1),
                               torch.ones(2, 4, 4))


def test_attention_maps_equal_a_plain_recomputation():
    """The concatenated maps, recomputed independently from each
    cross-attention layer's inputs: softmax(q k^T / sqrt(d)) per head, head
    mean, then the mean over the down and up layers of each latent size
    (VPD's AttentionStore: 1/16 and 1/32 of the image)."""
    k = 5
    bb = _tiny(attn_maps=dict(num_tokens=k))
    inputs = {}  # spatial size -> list of recomputed [B, N, K] maps

    def hook(module, args, kwargs):
        x = args[0] if args else kwargs['hidden_states']
        ctx = kwargs['encoder_hidden_states']
        b, n, _ = x.shape
        q = module.to_q(x).view(b, n, module.heads, -1).transpose(1, 2)
        key = module.to_k(ctx).view(b, ctx.shape[1], module.heads,
                                    -1).transpose(1, 2)
        probs = (q @ key.transpose(-1, -2) / math.sqrt(q.shape[-1])).softmax(
            -1)
        inputs.setdefault(n, []).append(probs.mean(1))

    handles = []
    for name, mod in bb.unet.named_modules():
        if name.endswith('attn2') and name.startswith(
                ('down_blocks', 'up_blocks')):
            handles.append(mod.register_forward_pre_hook(hook,
                                                         with_kwargs=True))
    x, ctx = torch.randn(2, 3, 128, 128), torch.randn(2, k, 32)
    with torch.no_grad():
        feats = bb(x, ctx)
    for h in handles:
        h.remove()
    for feat in feats[1:3]:  # 1/16 (8x8) and 1/32 (4x4)
        hh, ww = feat.shape[-2:]
        expected = torch.stack(inputs[hh * ww]).mean(0)  # layers of a level
        expected = expected.transpose(1, 2).reshape(2, k, hh, ww)
        torch.testing.assert_close(feat[:, -k:], expected, atol=1e-6,
                                   rtol=1e-5)
    # down and up layers both counted: tiny preset, 2 + 3 per level
    assert len(inputs[64]) == 5 and len(inputs[16]) == 5


def test_fused_attention_matches_plain_reference():
    torch.manual_seed(0)
    x, ctx = torch.randn(1, 3, 64, 128), torch.randn(1, 4, 32)
    fused = _tiny()(x, ctx)  # SDPA everywhere
    recording = _tiny(attn_maps=dict(num_tokens=4))(x, ctx)
    # the same weights with diffusers' plain (non-fused) processor everywhere
    bb = _tiny()
    bb.unet.set_attn_processor(AttnProcessor())
    plain = bb(x, ctx)
    for f, r, p in zip(fused, recording, plain):
        torch.testing.assert_close(f, p, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(r[:, :p.shape[1]], p, atol=1e-5,
                                   rtol=1e-5)


def test_attention_maps_do_not_change_features():
    x, ctx = torch.randn(1, 3, 64, 64), torch.randn(1, 4, 32)
    a = _tiny()(x, ctx)
    b = _tiny(attn_maps=dict(num_tokens=4))(x, ctx)
    for fa, fb in zip(a, b):
        torch.testing.assert_close(fa, fb[:, :fa.shape[1]], atol=1e-5,
                                   rtol=1e-5)


def test_gradients_reach_unet_and_context_not_vae():
    bb = _tiny(attn_maps=dict(num_tokens=3, detach=False))
    ctx = torch.randn(1, 3, 32, requires_grad=True)
    feats = bb(torch.randn(1, 3, 64, 64), ctx)
    sum(f.mean() for f in feats).backward()
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
    trainable = [(n, p) for n, p in bb.unet.named_parameters()]
    no_grad = [n for n, p in trainable if p.grad is None]
    assert not no_grad, no_grad[:5]
    assert all(p.grad is None for p in bb.vae.parameters())


def test_external_time_embedding_and_recurrent_loops():
    bb = _tiny(use_time_embed=False, num_loops=3)
    assert not hasattr(bb.unet, 'time_embedding')
    assert hasattr(bb.unet, 'conv_out')
    temb = [torch.randn(1, bb.time_embed_dim, requires_grad=True)
            for _ in range(3)]
    feats = bb(torch.randn(1, 3, 64, 64), torch.randn(1, 2, 32), temb)
    sum(f.mean() for f in feats).backward()
    assert all(t.grad is not None for t in temb)
    with pytest.raises(ValueError, match='num_loops=3'):
        bb(torch.randn(1, 3, 64, 64), [torch.randn(1, 2, 32)] * 2, temb)
    with pytest.raises(RuntimeError, match='time_embeds'):
        bb(torch.randn(1, 3, 64, 64), torch.randn(1, 2, 32))


def test_gradient_checkpointing_same_output():
    x, ctx = torch.randn(1, 3, 64, 64), torch.randn(1, 2, 32)
    a = _tiny()(x, ctx)
    bb = _tiny(gradient_checkpointing=True)
    b = bb(x, ctx)
    for fa, fb in zip(a, b):
        torch.testing.assert_close(fa, fb)
    sum(f.mean() for f in b).backward()


def test_dtype_bfloat16_runs():
    bb = _tiny(dtype='bfloat16')
    feats = bb(torch.randn(1, 3, 64, 64), torch.randn(1, 2, 32))
    assert feats[0].dtype == torch.float32


def test_bad_arguments():
    with pytest.raises(KeyError, match='preset'):
        StableDiffusionBackbone(unet='sd99', vae='tiny')
    with pytest.raises(ValueError, match='cross_attention_dim'):
        _tiny()(torch.randn(1, 3, 64, 64), torch.randn(1, 2, 16))
    with pytest.raises(ValueError, match='dtype'):
        _tiny(dtype='float8')


def test_partial_arch_override():
    cfg = resolve_arch(dict(preset='tiny', cross_attention_dim=16), 'unet')
    assert cfg['cross_attention_dim'] == 16
    assert cfg['block_out_channels'] == [32, 64, 64, 64]


def _save_tiny_pair(tmp_path):
    torch.manual_seed(1)
    unet, vae = build_sd_models('tiny', 'tiny')
    folder = tmp_path / 'sd_diffusers'
    unet.save_pretrained(folder / 'unet')
    vae.save_pretrained(folder / 'vae')
    ldm = to_ldm_checkpoint(unet.state_dict(), resolve_arch('tiny', 'unet'),
                            vae.state_dict(), resolve_arch('tiny', 'vae'))
    return folder, ldm


def test_diffusers_folder_and_ldm_single_file_load_identically(tmp_path):
    from safetensors.torch import save_file
    folder, ldm = _save_tiny_pair(tmp_path)
    ckpt = tmp_path / 'sd-tiny.ckpt'
    torch.save({'state_dict': ldm, 'global_step': 10}, ckpt)
    st = tmp_path / 'sd-tiny.safetensors'
    save_file({k: v.contiguous() for k, v in ldm.items()}, st)
    x, ctx = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 32)
    outs, states = [], []
    for src in (folder, ckpt, st):
        bb = StableDiffusionBackbone(unet='tiny', vae='tiny',
                                     pretrained=str(src))
        states.append(bb.state_dict())
        with torch.no_grad():
            outs.append(bb(x, ctx))
    for state in states[1:]:  # bit-identical weights
        assert state.keys() == states[0].keys()
        for k in state:
            assert torch.equal(state[k], states[0][k]), k
    for other in outs[1:]:  # outputs equal up to BLAS memory-alignment noise
        for a, b in zip(outs[0], other):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # and they differ from a random init (weights really were loaded)
    rand = _tiny()(x, ctx)
    assert not torch.allclose(rand[0], outs[0][0])


def test_recurrent_mode_loads_output_conv_from_single_file(tmp_path):
    _, ldm = _save_tiny_pair(tmp_path)
    ckpt = tmp_path / 'sd.ckpt'
    torch.save({'state_dict': ldm}, ckpt)
    bb = StableDiffusionBackbone(unet='tiny', vae='tiny', num_loops=2,
                                 pretrained=str(ckpt))
    torch.testing.assert_close(
        bb.unet.conv_out.weight, ldm['model.diffusion_model.out.2.weight'])


def test_bad_weight_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match='do not exist'):
        StableDiffusionBackbone(unet='tiny', vae='tiny',
                                pretrained=str(tmp_path / 'nope.ckpt'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='unet/ and vae/'):
        StableDiffusionBackbone(unet='tiny', vae='tiny',
                                pretrained=str(tmp_path / 'empty'))
    bad = tmp_path / 'not_sd.pth'
    torch.save({'state_dict': {'foo.weight': torch.zeros(1)}}, bad)
    with pytest.raises(KeyError, match='not an original Stable Diffusion'):
        StableDiffusionBackbone(unet='tiny', vae='tiny', pretrained=str(bad))
    # an ldm file of another architecture: clear mismatch error
    _, ldm = _save_tiny_pair(tmp_path)
    f = tmp_path / 'tiny.ckpt'
    torch.save({'state_dict': ldm}, f)
    with pytest.raises(ValueError, match=r'weights from ".*tiny\.ckpt" do not '
                       r'match .* another shape'):
        StableDiffusionBackbone(
            unet=dict(preset='tiny', block_out_channels=[16, 32, 32, 32]),
            vae='tiny', pretrained=str(f))


def test_hub_id_offline_says_pass_local_path(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(FileNotFoundError, match='local path'):
        StableDiffusionBackbone(unet='tiny', vae='tiny',
                                pretrained='runwayml/stable-diffusion-v1-5')


@pytest.mark.parametrize('preset', ['sd15', 'sd21'])
def test_full_presets_resolve_offline(preset, no_network):
    """The shipped SD1.5 / SD2.1 architecture configs (the full builds,
    also with the network blocked, are the slow tests below)."""
    unet_cfg = resolve_arch(preset, 'unet')
    vae_cfg = resolve_arch(preset, 'vae')
    assert vae_cfg['scaling_factor'] == 0.18215
    if preset == 'sd15':
        assert unet_cfg['cross_attention_dim'] == 768
    else:
        assert unet_cfg['cross_attention_dim'] == 1024
        assert unet_cfg['use_linear_projection']


@pytest.mark.slow
def test_full_sd15_pyramid(no_network):
    torch.manual_seed(0)
    bb = StableDiffusionBackbone(unet='sd15', vae='sd15',
                                 attn_maps=dict(num_tokens=2))
    n_unet = sum(p.numel() for p in bb.unet.parameters())
    assert 850e6 < n_unet < 870e6  # SD1.5 UNet ~860M (without conv_out)
    with torch.no_grad():
        feats = bb(torch.randn(1, 3, 64, 64), torch.randn(1, 2, 768))
    assert bb.out_channels == [320, 642, 1282, 1280]
    assert [tuple(f.shape) for f in feats] == [(1, 320, 8, 8),
                                               (1, 642, 4, 4),
                                               (1, 1282, 2, 2),
                                               (1, 1280, 1, 1)]


@pytest.mark.slow
def test_full_sd21_builds(no_network):
    bb = StableDiffusionBackbone(unet='sd21', vae='sd21')
    assert bb.context_dim == 1024
    assert bb.out_channels == [320, 640, 1280, 1280]


def test_a_dropped_backbone_is_freed_at_once():
    """No reference cycle: the pyramid hooks on the UNet do not refer back
    to the backbone, so a full-size model (3.5 GB) is freed when dropped,
    not whenever the cycle collector runs (two SD builds in one test worker
    held 8 GB)."""
    import gc
    import weakref
    gc.disable()
    try:
        for kw in ({}, dict(attn_maps=dict(num_tokens=2))):
            bb = StableDiffusionBackbone(unet='tiny', vae='tiny', **kw)
            with torch.no_grad():
                bb(torch.randn(1, 3, 64, 64), torch.randn(1, 2, 32))
            ref = weakref.ref(bb)
            del bb
            assert ref() is None, kw
    finally:
        gc.enable()
