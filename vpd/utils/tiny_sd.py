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
    args = parser.parse_args(argv)
    write_tiny_sd_checkpoint(args.out, seed=args.seed,
                             pooling_vae=not args.random_vae)
    print(f'Wrote {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
