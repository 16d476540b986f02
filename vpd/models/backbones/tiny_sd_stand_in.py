"""Structured stand-ins for Stable Diffusion's pretrained weights (CPU checks).

The tiny CPU configs (``configs/quickstart``) cannot use SD's weights, and a
randomly initialised tiny SD lacks two things that the methods rely on:

* **The VAE.** A random frozen VAE encoder passes almost no local image
  content through its 4-channel latent (a per-cell probe of its latents on
  the synthetic segmentation set reaches about the majority-class baseline),
  so nothing trained above it can learn much. SD's pretrained latents are,
  roughly, a colour-downsampled image. :func:`init_pooling_vae_` sets the
  encoder so that the latent mean is exactly that: the 8x8 average-pooled RGB
  image, normalised per image (the encoder's output GroupNorm) and passed
  through a monotonic SiLU; the fourth channel and the log-variance are zero.
* **The UNet's output conv** (Meta Prompts' recurrent refinement). Loop
  ``i > 1`` takes ``conv_out(SiLU(conv_norm_out(f)))`` of the previous loop's
  finest (1/8) feature ``f`` as its latent input. In SD that conv is trained
  to map the UNet's features back into latent space; with random weights it
  returns a random projection that keeps little of the image (a linear probe
  on the initial features of the synthetic set: 84% pixel accuracy after 1
  loop, 75% after 2 or 3, majority class 74%). :func:`init_latent_passthrough_unet_`
  gives the UNet a path that carries the latent from ``conv_in`` along the
  finest skip connection to the finest feature and back out through
  ``conv_out``: the first ``latent_channels`` channels of ``conv_in`` copy
  the latent, the last resnet of the finest up block copies them from its
  skip input (1x1 shortcut; its residual branch and the following
  transformer's output projection are zero on those channels), and
  ``conv_norm_out`` / ``conv_out`` normalise them (per image, like the VAE
  above) and copy them out. All other weights stay random, and every weight
  stays trainable: only the starting point changes.

Every layer keeps its place, so the architecture, the key names and the
ldm conversion are those of the real models. This is a stand-in for
pretrained weights, not a change of either method: the same configs with
SD1.5 weights use SD's own VAE and output conv.
:func:`tiny_sd_stand_in_checkpoint` returns such a pair (seeded random
otherwise) as an ldm single-file state dict, which
``StableDiffusionBackbone(pretrained=...)`` loads like
``v1-5-pruned-emaonly.ckpt`` once written by
:func:`write_tiny_sd_checkpoint` (command line:
``python tools/misc/make_tiny_sd.py OUT.ckpt``). For tests and quickstarts
only. No library offers such weights; hand-written here.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import torch
import torch.nn as nn

from vpd.utils.checkpoint import save_checkpoint_atomic
from .sd_weights import (ArchSpec, build_sd_models, resolve_arch,
                         to_ldm_checkpoint)

__all__ = ['init_pooling_vae_', 'init_latent_passthrough_unet_',
           'tiny_sd_stand_in_checkpoint', 'write_tiny_sd_checkpoint',
           'init_word_identity_clip_', 'write_tiny_clip_text']

#: GroupNorm affine of the stand-ins' output norms: shift the per-image
#: normalised values (mostly within +-3) into SiLU's monotonic range.
_NORM_WEIGHT = 0.5
_NORM_BIAS = 2.0


def _copy_channels_(conv: nn.Conv2d,
                    pairs: Sequence[Tuple[int, int]],
                    value: float = 1.0,
                    taps: Sequence[Tuple[int, int]] = ((1, 1), ),
                    clear_all: bool = False) -> None:
    """Make output channel ``o`` of ``conv`` copy input channel ``i``.

    The rows named in ``pairs`` (or all rows with ``clear_all``) are zeroed
    first, weights and bias; other output channels are left as they are.

    Args:
        conv (nn.Conv2d): Convolution changed in place.
        pairs (Sequence[tuple[int, int]]): ``(output, input)`` channels.
        value (float): Weight of each tap. Defaults to 1.0.
        taps (Sequence[tuple[int, int]]): Kernel positions ``(ky, kx)``
            given ``value``. Defaults to the centre of a 3x3 kernel.
        clear_all (bool): Zero every output channel first. Defaults to
            False.
    """
    if clear_all:
        conv.weight.zero_()
        if conv.bias is not None:
            conv.bias.zero_()
    for out_c, _ in pairs:
        conv.weight[out_c].zero_()
        if conv.bias is not None:
            conv.bias[out_c] = 0.0
    for out_c, in_c in pairs:
        for ky, kx in taps:
            conv.weight[out_c, in_c, ky, kx] = value


@torch.no_grad()
def init_pooling_vae_(vae: nn.Module) -> nn.Module:
    """Make a diffusers ``AutoencoderKL`` encoder average-pool RGB (in place).

    The latent mean ``[B, latent_channels, H / 2**(n - 1), W / 2**(n - 1)]``
    (``n`` encoder stages, 8x for the SD layout) becomes
    ``SiLU(0.5 * GN(avgpool(img)) + 2)`` on channels 0-2 and 0 elsewhere; the
    log-variance is 0. The decoder, if present, is left as it is.

    Args:
        vae (nn.Module): ``AutoencoderKL``. Needs at least 3 channels in
            every encoder stage and ``latent_channels >= 3``.

    Returns:
        nn.Module: ``vae``.

    Raises:
        ValueError: If the encoder is narrower than 3 channels somewhere.
    """
    enc = vae.encoder
    widths = [enc.conv_in.out_channels, vae.config.latent_channels]
    if min(widths) < 3:
        raise ValueError(f'init_pooling_vae_ needs >= 3 channels in the '
                         f'encoder and the latent, got {widths}')
    rgb = [(c, c) for c in range(3)]

    _copy_channels_(enc.conv_in, rgb, clear_all=True)
    for block in enc.down_blocks:
        for res in block.resnets:
            res.conv2.weight.zero_()
            res.conv2.bias.zero_()
            if res.conv_shortcut is not None:
                n = res.conv_shortcut.in_channels
                _copy_channels_(res.conv_shortcut, [(c, c) for c in range(n)],
                                taps=((0, 0), ), clear_all=True)
        if block.downsamplers is not None:
            for down in block.downsamplers:
                # (0, 1, 0, 1)-padded 3x3 stride-2 conv: average the top-left
                # 2x2 taps, i.e. 2x2 average pooling.
                n = down.conv.in_channels
                _copy_channels_(down.conv, [(c, c) for c in range(n)], 0.25,
                                taps=((0, 0), (0, 1), (1, 0), (1, 1)),
                                clear_all=True)
    mid = enc.mid_block
    for res in mid.resnets:
        res.conv2.weight.zero_()
        res.conv2.bias.zero_()
    for attn in (mid.attentions or []):
        if attn is not None:
            attn.to_out[0].weight.zero_()
            attn.to_out[0].bias.zero_()
    # GroupNorm then SiLU: shift into SiLU's monotonic range.
    enc.conv_norm_out.weight.fill_(_NORM_WEIGHT)
    enc.conv_norm_out.bias.fill_(_NORM_BIAS)
    _copy_channels_(enc.conv_out, rgb, clear_all=True)
    if getattr(vae, 'quant_conv', None) is not None:
        n = vae.quant_conv.in_channels
        _copy_channels_(vae.quant_conv, [(c, c) for c in range(n)],
                        taps=((0, 0), ), clear_all=True)
    return vae


@torch.no_grad()
def init_latent_passthrough_unet_(unet: nn.Module) -> nn.Module:
    """Give a diffusers ``UNet2DConditionModel`` a latent pass-through path.

    Afterwards, for an input latent ``z`` ``[B, C, h, w]`` (``C`` =
    ``in_channels``, ``k = min(in_channels, out_channels)``), channels
    ``0..k-1`` of the finest up-path feature equal ``z[:, :k]`` exactly, and
    the output conv returns ``SiLU(0.5 * GN(those channels) + 2)`` on its
    first ``k`` channels and 0 on the rest (``GN``: the ``conv_norm_out``
    group of those channels, normalised per image), whatever the
    conditioning. Other channels and all other weights keep their (random)
    values, so the features still depend on the conditioning.

    The path: ``conv_in`` rows ``0..k-1`` copy the latent; the finest up
    block's last resnet, whose input is ``cat([h, conv_in(z)])`` (diffusers'
    skip order), copies them through its 1x1 shortcut (its ``conv2`` rows
    are zero); the transformer after it (if any) has zero ``proj_out`` rows
    there, so its residual passes them on.

    Args:
        unet (nn.Module): ``UNet2DConditionModel`` in the SD layout (the
            finest up block's last resnet takes ``conv_in``'s output as its
            skip input and has a 1x1 shortcut).

    Returns:
        nn.Module: ``unet``.

    Raises:
        ValueError: If ``k`` channels do not fit in one GroupNorm group
            pattern of ``conv_norm_out`` or the finest resnet has no
            shortcut.
    """
    k = min(unet.config.in_channels, unet.config.out_channels)
    width = unet.conv_in.out_channels
    norm = unet.conv_norm_out
    per_group = norm.num_channels // norm.num_groups
    if k > width or per_group < k:
        raise ValueError(
            f'init_latent_passthrough_unet_: the {k} latent channels must fit '
            f'in conv_in ({width} channels) and in one conv_norm_out group '
            f'({per_group} channels per group)')
    ident = [(c, c) for c in range(k)]
    _copy_channels_(unet.conv_in, ident)

    block = unet.up_blocks[-1]
    res = block.resnets[-1]
    if res.conv_shortcut is None or res.conv_shortcut.kernel_size != (1, 1):
        raise ValueError('init_latent_passthrough_unet_: the finest up '
                         'block\'s last resnet has no 1x1 shortcut')
    skip_offset = res.conv_shortcut.in_channels - width
    _copy_channels_(res.conv_shortcut,
                    [(c, skip_offset + c) for c in range(k)],
                    taps=((0, 0), ))
    res.conv2.weight[:k].zero_()
    res.conv2.bias[:k].zero_()
    attentions = getattr(block, 'attentions', None)
    if attentions:
        proj = attentions[-1].proj_out
        proj.weight[:k].zero_()
        if proj.bias is not None:
            proj.bias[:k].zero_()

    norm.weight[:k] = _NORM_WEIGHT
    norm.bias[:k] = _NORM_BIAS
    _copy_channels_(unet.conv_out, ident, clear_all=True)
    return unet


def tiny_sd_stand_in_checkpoint(unet: ArchSpec = 'tiny',
                                vae: ArchSpec = 'tiny',
                                seed: int = 0,
                                pooling_vae: bool = True,
                                passthrough_unet: bool = True
                                ) -> Dict[str, Any]:
    """A seeded UNet + VAE pair with the stand-ins, as an ldm checkpoint.

    Args:
        unet (str | dict): UNet architecture. Defaults to ``'tiny'``.
        vae (str | dict): VAE architecture. Defaults to ``'tiny'``.
        seed (int): Seed of the random weights (the global RNG is restored
            afterwards). Defaults to 0.
        pooling_vae (bool): Apply :func:`init_pooling_vae_`. Defaults to
            True.
        passthrough_unet (bool): Apply :func:`init_latent_passthrough_unet_`.
            Defaults to True.

    Returns:
        dict: ``{'state_dict': {...}}`` with ``model.diffusion_model.*`` and
        ``first_stage_model.*`` keys (the layout of
        ``v1-5-pruned-emaonly.ckpt``).
    """
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        unet_model, vae_model = build_sd_models(unet, vae, None)
    finally:
        torch.random.set_rng_state(state)
    if pooling_vae:
        init_pooling_vae_(vae_model)
    if passthrough_unet:
        init_latent_passthrough_unet_(unet_model)
    return dict(state_dict=to_ldm_checkpoint(
        unet_model.state_dict(), resolve_arch(unet, 'unet'),
        vae_model.state_dict(), resolve_arch(vae, 'vae')))


def write_tiny_sd_checkpoint(path: str,
                             unet: ArchSpec = 'tiny',
                             vae: ArchSpec = 'tiny',
                             seed: int = 0,
                             pooling_vae: bool = True,
                             passthrough_unet: bool = True
                             ) -> Dict[str, Any]:
    """Save :func:`tiny_sd_stand_in_checkpoint` to ``path`` (atomically).

    Args:
        path (str): Output file (``.ckpt``; ``{'state_dict': ...}``).
        unet (str | dict): UNet architecture. Defaults to ``'tiny'``.
        vae (str | dict): VAE architecture. Defaults to ``'tiny'``.
        seed (int): Seed of the random weights. Defaults to 0.
        pooling_vae (bool): Average-pooling VAE encoder instead of a random
            one. Defaults to True.
        passthrough_unet (bool): UNet with the latent pass-through path
            instead of a fully random one. Defaults to True.

    Returns:
        dict: The saved checkpoint.

    Raises:
        OSError: If ``path`` cannot be written (the previous file, if any,
            is kept).
    """
    ckpt = tiny_sd_stand_in_checkpoint(
        unet, vae, seed=seed, pooling_vae=pooling_vae,
        passthrough_unet=passthrough_unet)
    save_checkpoint_atomic(ckpt, path)
    return ckpt


# --- the CLIP text model stand-in of the tiny referring configs ---------
@torch.no_grad()
def init_word_identity_clip_(model: nn.Module) -> nn.Module:
    """Make a transformers ``CLIPTextModel`` a bag of word vectors (in place).

    Every attention and MLP residual branch is zeroed and the position
    embedding too, so ``last_hidden_state`` at each position is the final
    LayerNorm of that position's token embedding (seeded random vectors,
    nearly orthogonal): the word identity, with nothing mixed in. The
    architecture and key names stay CLIP's.

    Args:
        model (nn.Module): ``CLIPTextModel``.

    Returns:
        nn.Module: ``model``.
    """
    text = getattr(model, "text_model", model)  # transformers < 5 nests it
    text.embeddings.position_embedding.weight.zero_()
    for layer in text.encoder.layers:
        layer.self_attn.out_proj.weight.zero_()
        layer.self_attn.out_proj.bias.zero_()
        layer.mlp.fc2.weight.zero_()
        layer.mlp.fc2.bias.zero_()
    text.final_layer_norm.weight.fill_(1.0)
    text.final_layer_norm.bias.zero_()
    return model


def write_tiny_clip_text(path: str, width: int = 32, num_layers: int = 2,
                         seed: int = 0, word_identity: bool = False) -> None:
    """Save a seeded random tiny transformers ``CLIPTextModel`` folder.

    The stand-in for CLIP ViT-L/14 of the tiny referring-segmentation
    configs (width = the tiny UNet's cross-attention width). Only the model
    is written; :func:`vpd.utils.clip_text.load_clip_tokenizer` falls back
    to open_clip's bundled CLIP tokenizer (CLIP's ids, offline).

    Args:
        path (str): Output folder (``config.json`` + ``model.safetensors``).
        width (int): Hidden size. Defaults to 32.
        num_layers (int): Transformer layers. Defaults to 2.
        seed (int): Seed of the random weights. Defaults to 0.
    """
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CLIPTextConfig(hidden_size=width, intermediate_size=2 * width,
                         num_hidden_layers=num_layers, num_attention_heads=2,
                         vocab_size=49408, max_position_embeddings=77,
                         bos_token_id=49406, eos_token_id=49407,
                         pad_token_id=49407)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = CLIPTextModel(cfg).eval()
    finally:
        torch.random.set_rng_state(state)
    if word_identity:
        init_word_identity_clip_(model)
    model.save_pretrained(path, safe_serialization=True)
