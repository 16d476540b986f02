"""The tiny SD stand-in: pooling VAE, latent pass-through UNet, checkpoint."""
import pytest
import torch
import torch.nn.functional as F

from vpd.models.backbones import StableDiffusionBackbone
from vpd.models.backbones.sd_weights import build_sd_models
from vpd.models.backbones.tiny_sd_stand_in import (
    init_latent_passthrough_unet_, init_pooling_vae_,
    tiny_sd_stand_in_checkpoint)


def _expected_latent(img: torch.Tensor) -> torch.Tensor:
    """SiLU(0.5 * GN(avgpool8(img)) + 2) on RGB, written out directly."""
    pooled = F.avg_pool2d(img, 8)
    b, _, h, w = pooled.shape
    # the encoder's output GroupNorm (8 groups of 32 channels): RGB shares
    # its group with one zero channel
    group = torch.cat([pooled, pooled.new_zeros(b, 1, h, w)], 1)
    normed = F.group_norm(group, 1, eps=1e-6)[:, :3]
    return F.silu(0.5 * normed + 2.0)


def test_pooling_vae_latent_is_normalised_average_pool():
    torch.manual_seed(0)
    _, vae = build_sd_models('tiny', 'tiny', None)
    init_pooling_vae_(vae)
    img = torch.rand(2, 3, 64, 48) * 2 - 1
    with torch.no_grad():
        dist = vae.encode(img).latent_dist
    assert dist.mean.shape == (2, 4, 8, 6)
    torch.testing.assert_close(dist.mean[:, :3], _expected_latent(img),
                               atol=1e-5, rtol=1e-5)
    assert torch.count_nonzero(dist.mean[:, 3]) == 0
    assert torch.count_nonzero(dist.logvar) == 0


def test_passthrough_unet_carries_the_latent_whatever_the_conditioning():
    torch.manual_seed(0)
    bb = StableDiffusionBackbone(unet='tiny', vae='tiny', num_loops=3,
                                 use_time_embed=False)
    with torch.no_grad():
        init_latent_passthrough_unet_(bb.unet)
    latent = torch.rand(2, 4, 8, 8) * 3
    for seed in (1, 2):
        torch.manual_seed(seed)
        feats = bb.unet_features(latent, torch.randn(2, 5, 32),
                                 torch.randn(2, 128))
        finest = feats[0]  # out_blocks[0] = 11: the last up block's output
        assert finest.shape == (2, 32, 8, 8)
        torch.testing.assert_close(finest[:, :4], latent)
        # the other channels still depend on the (random) rest of the UNet
        assert finest[:, 4:].std() > 0.1
        back = bb.feedback(finest)
        expected = F.silu(0.5 * F.group_norm(latent, 1, eps=1e-5) + 2.0)
        torch.testing.assert_close(back, expected, atol=1e-5, rtol=1e-5)


def test_passthrough_gradients_reach_every_unet_parameter():
    torch.manual_seed(0)
    bb = StableDiffusionBackbone(unet='tiny', vae='tiny', num_loops=2,
                                 use_time_embed=False)
    with torch.no_grad():
        init_latent_passthrough_unet_(bb.unet)
    feats = bb(torch.rand(1, 3, 64, 64) * 2 - 1,
               [torch.randn(1, 3, 32)] * 2, [torch.randn(1, 128)] * 2)
    sum(f.square().mean() for f in feats).backward()
    no_grad = [n for n, p in bb.unet.named_parameters()
               if p.grad is None or not torch.any(p.grad != 0)]
    assert no_grad == []


def test_checkpoint_changes_only_the_documented_unet_layers():
    random_unet = tiny_sd_stand_in_checkpoint(passthrough_unet=False)
    passthrough = tiny_sd_stand_in_checkpoint()
    changed = sorted({
        k.split('.')[2] + '.' + k.split('.')[3]
        for k, v in passthrough['state_dict'].items()
        if not torch.equal(v, random_unet['state_dict'][k])
    })
    # ldm names: conv_in, the last output block (resnet 0, transformer 1)
    # and the output GroupNorm / conv
    assert changed == ['input_blocks.0', 'out.0', 'out.2',
                       'output_blocks.11']
    state = torch.random.get_rng_state()
    again = tiny_sd_stand_in_checkpoint()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(v, again['state_dict'][k])
               for k, v in passthrough['state_dict'].items())


def test_passthrough_needs_the_latent_in_one_norm_group():
    unet, _ = build_sd_models(dict(preset='tiny', norm_num_groups=16), 'tiny',
                              None)
    with pytest.raises(ValueError, match='one conv_norm_out group'):
        init_latent_passthrough_unet_(unet)
