"""Write the tiny Stable Diffusion stand-in checkpoint of the CPU configs.

Example::

    python tools/misc/make_tiny_sd.py checkpoints/tiny_sd_pooling_vae.ckpt

The file holds the tiny SD-shaped preset (``unet='tiny'``, ``vae='tiny'``)
in the ldm single-file layout of ``v1-5-pruned-emaonly.ckpt``: a seeded
random UNet with a path that carries the latent from ``conv_in`` to its
output conv (what Meta Prompts' refinement loops feed on) and a VAE encoder
that 8x8 average-pools the image. It stands in for SD's pretrained weights
on a CPU; it does not change either method (see
``vpd/models/backbones/tiny_sd_stand_in.py`` for why and how). The
quickstart configs in ``configs/quickstart`` that name
``checkpoints/tiny_sd_pooling_vae.ckpt`` load it through
``model.backbone.pretrained``. Written atomically. In Python:
``vpd.models.backbones.tiny_sd_stand_in.write_tiny_sd_checkpoint``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line (``argv`` without the program name)."""
    parser = argparse.ArgumentParser(
        description='Write a tiny SD-shaped ldm checkpoint standing in for '
        'SD weights in the CPU quickstarts: random UNet with a latent '
        'pass-through path to its output conv, average-pooling VAE '
        'encoder.')
    parser.add_argument('out', help='output .ckpt file')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random weights (default 0)')
    parser.add_argument('--random-vae', action='store_true',
                        help='keep the VAE random instead of pooling')
    parser.add_argument('--random-unet', action='store_true',
                        help='keep the UNet fully random (no latent '
                        'pass-through; the checkpoint of the figures '
                        'measured before issue 15)')
    parser.add_argument('--clip-text', metavar='DIR',
                        help='also write a tiny random CLIP text model '
                        '(transformers folder) there, standing in for CLIP '
                        'ViT-L/14 in the tiny referring-segmentation configs')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = parse_args(argv)
    from vpd.models.backbones.tiny_sd_stand_in import (
        write_tiny_clip_text, write_tiny_sd_checkpoint)
    write_tiny_sd_checkpoint(args.out, seed=args.seed,
                             pooling_vae=not args.random_vae,
                             passthrough_unet=not args.random_unet)
    print(f'Wrote {args.out}')
    if args.clip_text:
        write_tiny_clip_text(args.clip_text, seed=args.seed)
        print(f'Wrote {args.clip_text}')
    return 0


if __name__ == '__main__':
    from vpd.utils.cli import run_tool
    run_tool(main)
