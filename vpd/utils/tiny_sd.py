"""A structured stand-in for a pretrained VAE, for CPU learning checks.

A randomly initialised VAE encoder (the ``'tiny'`` preset without weights)
passes almost no local image content through its 4-channel latent: a
per-cell probe of its latents on the synthetic segmentation set reaches
about the majority-class baseline, so nothing trained on top of the frozen
encoder can learn much. A pretrained SD VAE does not have that problem; its
latents are, roughly, a colour-downsampled image.

:func:`init_pooling_vae_` sets the weights of a diffusers ``AutoencoderKL``
encoder so that it computes exactly that: the latent mean is the 8x8
average-pooled RGB image, normalised per image (the encoder's output
GroupNorm) and passed through a monotonic SiLU; the fourth channel and the
log-variance are zero. Every layer keeps its place; residual branches and
the mid-block attention output are zero, so the architecture, key names and
ldm conversion are those of the real VAE. :func:`write_tiny_sd_checkpoint`
saves such a VAE with a seeded random tiny UNet as an ldm single-file
checkpoint, which ``StableDiffusionBackbone(pretrained=...)`` loads like
``v1-5-pruned-emaonly.ckpt``. For tests and quickstarts only.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import torch
import torch.nn as nn


@torch.no_grad()
def init_pooling_vae_(vae: nn.Module) -> nn.Module:
    """Make a diffusers ``AutoencoderKL`` encoder average-pool RGB (in place).

    Args:
        vae (nn.Module): ``AutoencoderKL`` (the decoder, if present, is left
            as it is). Needs at least 3 channels in every encoder stage and
            ``latent_channels >= 3``.

    Returns:
        nn.Module: ``vae``.
    """
    enc = vae.encoder

    def eye_(conv: nn.Conv2d, n: int, value: float = 1.0,
             taps=((1, 1), )) -> None:
        conv.weight.zero_()
        if conv.bias is not None:
            conv.bias.zero_()
        for c in range(n):
            for ky, kx in taps:
                conv.weight[c, c, ky, kx] = value

    eye_(enc.conv_in, 3)
    for block in enc.down_blocks:
        for res in block.resnets:
            res.conv2.weight.zero_()
            res.conv2.bias.zero_()
            if res.conv_shortcut is not None:
                eye_(res.conv_shortcut, res.conv_shortcut.in_channels,
                     taps=((0, 0), ))
        if block.downsamplers is not None:
            for down in block.downsamplers:
                # (0, 1, 0, 1)-padded 3x3 stride-2 conv: average the top-left
                # 2x2 taps, i.e. 2x2 average pooling.
                eye_(down.conv, down.conv.in_channels, 0.25,
                     taps=((0, 0), (0, 1), (1, 0), (1, 1)))
    mid = enc.mid_block
    for res in mid.resnets:
        res.conv2.weight.zero_()
        res.conv2.bias.zero_()
    for attn in (mid.attentions or []):
        if attn is not None:
            attn.to_out[0].weight.zero_()
            attn.to_out[0].bias.zero_()
    # GroupNorm then SiLU: shift into SiLU's monotonic range.
    enc.conv_norm_out.weight.fill_(0.5)
    enc.conv_norm_out.bias.fill_(2.0)
    eye_(enc.conv_out, 3)
    if getattr(vae, 'quant_conv', None) is not None:
        eye_(vae.quant_conv, vae.quant_conv.in_channels, taps=((0, 0), ))
    return vae


def write_tiny_sd_checkpoint(path: str,
                             unet: Union[str, Dict[str, Any]] = 'tiny',
                             vae: Union[str, Dict[str, Any]] = 'tiny',
                             seed: int = 0,
                             pooling_vae: bool = True) -> Dict[str, Any]:
    """Save a seeded tiny UNet + (pooling) VAE as an ldm single-file ckpt.

    Args:
        path (str): Output file (``.ckpt``; ``{'state_dict': ...}``).
        unet (str | dict): UNet architecture. Defaults to ``'tiny'``.
        vae (str | dict): VAE architecture. Defaults to ``'tiny'``.
        seed (int): Seed of the random UNet. Defaults to 0.
        pooling_vae (bool): Apply :func:`init_pooling_vae_`. Defaults to
            True.

    Returns:
        dict: The saved checkpoint.
    """
    from vpd.models.backbones.sd_weights import (build_sd_models,
                                                 resolve_arch,
                                                 to_ldm_checkpoint)
    from vpd.utils.checkpoint import save_checkpoint_atomic
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        unet_model, vae_model = build_sd_models(unet, vae, None)
    finally:
        torch.random.set_rng_state(state)
    if pooling_vae:
        init_pooling_vae_(vae_model)
    ckpt = dict(state_dict=to_ldm_checkpoint(
        unet_model.state_dict(), resolve_arch(unet, 'unet'),
        vae_model.state_dict(), resolve_arch(vae, 'vae')))
    save_checkpoint_atomic(ckpt, path)
    return ckpt


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


def main(argv: Optional[list] = None) -> int:
    """CLI: ``python -m vpd.utils.tiny_sd OUT.ckpt [--seed N]``."""
    import argparse
    parser = argparse.ArgumentParser(
        description='Write a tiny SD-shaped ldm checkpoint (random UNet, '
        'average-pooling VAE encoder) for CPU quickstarts.')
    parser.add_argument('out', help='output .ckpt file')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--random-vae', action='store_true',
                        help='keep the VAE random instead of pooling')
    parser.add_argument('--clip-text', metavar='DIR',
                        help='also write a tiny random CLIP text model '
                        '(transformers folder) there, for the tiny '
                        'referring-segmentation configs')
    args = parser.parse_args(argv)
    write_tiny_sd_checkpoint(args.out, seed=args.seed,
                             pooling_vae=not args.random_vae)
    print(f'Wrote {args.out}')
    if args.clip_text:
        write_tiny_clip_text(args.clip_text, seed=args.seed)
        print(f'Wrote {args.clip_text}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
