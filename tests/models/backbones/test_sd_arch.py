"""The SD architecture read from ldm tensor shapes (or an ldm yaml)."""
import pytest
import torch

from vpd.models.backbones.sd_arch import (ArchInferenceError,
                                          arch_from_original_config,
                                          complete_arch, infer_unet_config,
                                          infer_vae_config, shapes_of)
from vpd.models.backbones.sd_weights import (LDM_UNET_PREFIX, LDM_VAE_PREFIX,
                                             build_unet, build_vae,
                                             resolve_arch, to_ldm_checkpoint)


def _ldm(unet_spec, vae_spec='tiny'):
    """An ldm-layout state dict of randomly initialised models."""
    u, v = resolve_arch(unet_spec, 'unet'), resolve_arch(vae_spec, 'vae')
    torch.manual_seed(0)
    unet, vae = build_unet(u), build_vae(v)
    return unet, to_ldm_checkpoint(unet.state_dict(), u, vae.state_dict(), v)


def _infer(state, candidates=()):
    unet, uname, unotes = complete_arch(
        infer_unet_config(shapes_of(state, LDM_UNET_PREFIX)), 'unet',
        candidates)
    vae, vname, _ = complete_arch(
        infer_vae_config(shapes_of(state, LDM_VAE_PREFIX)), 'vae')
    return unet, uname, unotes, vae, vname


def test_a_preset_is_recognised_exactly():
    _, state = _ldm('tiny')
    unet, uname, notes, vae, vname = _infer(
        state, [('config', resolve_arch('sd15', 'unet'))])
    assert (uname, vname, notes) == ('tiny', 'tiny', [])
    assert unet == resolve_arch('tiny', 'unet')
    assert vae == resolve_arch('tiny', 'vae')


@pytest.mark.parametrize('spec', [
    # SD 2.x-like: wider cross-attention, linear projections
    dict(preset='tiny', cross_attention_dim=64, use_linear_projection=True),
    # custom widths, two transformer layers per block
    dict(preset='tiny', block_out_channels=[32, 64, 128, 128],
         transformer_layers_per_block=2),
    # three levels, one layer per block
    dict(preset='tiny', block_out_channels=[32, 64, 64], layers_per_block=1,
         down_block_types=['CrossAttnDownBlock2D'] * 2 + ['DownBlock2D'],
         up_block_types=['UpBlock2D'] + ['CrossAttnUpBlock2D'] * 2),
])
def test_other_architectures_load_strictly(spec):
    """Shapes fix the architecture; the rest comes from the closest
    preset (tiny here: 8 GroupNorm groups, 2 heads) and is said."""
    truth, state = _ldm(spec)
    unet, uname, notes, _, _ = _infer(
        state, [('config', resolve_arch('sd15', 'unet'))])
    assert uname == 'tiny+shapes' and 'no known architecture' in notes[0]
    assert unet['norm_num_groups'] == 8 and unet['attention_head_dim'] == 2
    rebuilt = build_unet(unet)
    rebuilt.load_state_dict(truth.state_dict(), strict=True)
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([1])
    ctx = torch.randn(1, 3, unet['cross_attention_dim'])
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x, t, ctx).sample,
                                   truth(x, t, ctx).sample)


def test_original_config_yaml(tmp_path):
    """An ldm yaml gives the head count the shapes cannot (diffusers'
    own yaml conversion); ldm models use 32 GroupNorm groups."""
    yaml_text = """
model:
  params:
    unet_config:
      params:
        in_channels: 4
        out_channels: 4
        model_channels: 32
        attention_resolutions: [4, 2, 1]
        num_res_blocks: 2
        channel_mult: [1, 2, 4, 4]
        num_head_channels: 16
        use_linear_in_transformer: true
        transformer_depth: 1
        context_dim: 64
    first_stage_config:
      params:
        ddconfig:
          double_z: true
          z_channels: 4
          resolution: 256
          in_channels: 3
          out_ch: 3
          ch: 32
          ch_mult: [1, 2, 4, 4]
          num_res_blocks: 2
          attn_resolutions: []
"""
    path = tmp_path / 'v2-like.yaml'
    path.write_text(yaml_text)
    unet, vae = arch_from_original_config(str(path))
    assert unet['attention_head_dim'] == [2, 4, 8, 8]  # 16-channel heads
    assert unet['cross_attention_dim'] == 64 and unet['use_linear_projection']
    assert unet['norm_num_groups'] == vae['norm_num_groups'] == 32
    assert vae['block_out_channels'] == [32, 64, 128, 128]
    bad = tmp_path / 'bad.yaml'
    bad.write_text('model: {params: {}}\n')
    with pytest.raises(ArchInferenceError, match='not an ldm model config'):
        arch_from_original_config(str(bad))


def test_not_an_sd_unet():
    with pytest.raises(ArchInferenceError, match='input_blocks.0.0.weight'):
        infer_unet_config({'foo.weight': (3, 3)})
    with pytest.raises(ArchInferenceError, match='SDXL'):
        infer_unet_config({'input_blocks.0.0.weight': (32, 4, 3, 3),
                           'label_emb.0.0.weight': (128, 256)})
