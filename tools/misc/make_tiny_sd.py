"""Write the tiny Stable Diffusion stand-in checkpoint of the CPU configs.

Example::

    python tools/misc/make_tiny_sd.py checkpoints/tiny_sd_pooling_vae.ckpt

The file holds the tiny SD-shaped preset (``unet='tiny'``, ``vae='tiny'``)
in the ldm single-file layout of ``v1-5-pruned-emaonly.ckpt``: a seeded
random UNet whose output conv passes the latent back (the path Meta Prompts'
refinement loops feed on) and a VAE encoder that 8x8 average-pools the
image, standing in for SD's pretrained weights (see
``vpd/models/backbones/tiny_sd_stand_in.py`` for why and how). The tiny
configs in ``configs/quickstart`` load it through
``model.backbone.pretrained``. Written atomically; for CPU checks only.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Any, Dict, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def write_tiny_sd_checkpoint(path: str,
                             seed: int = 0,
                             pooling_vae: bool = True,
                             passthrough_unet: bool = True
                             ) -> Dict[str, Any]:
    """Build the tiny stand-in and save it to ``path`` (atomically).

    Args:
        path (str): Output ``.ckpt`` file (``{'state_dict': ...}``).
        seed (int): Seed of the random weights. Defaults to 0.
        pooling_vae (bool): Average-pooling VAE encoder instead of a random
            one. Defaults to True.
        passthrough_unet (bool): UNet whose output conv passes the latent
            back instead of a random one. Defaults to True.

    Returns:
        dict: The saved checkpoint.
    """
    from vpd.models.backbones.tiny_sd_stand_in import \
        tiny_sd_stand_in_checkpoint
    from vpd.utils.checkpoint import save_checkpoint_atomic
    ckpt = tiny_sd_stand_in_checkpoint(seed=seed, pooling_vae=pooling_vae,
                                       passthrough_unet=passthrough_unet)
    save_checkpoint_atomic(ckpt, path)
    return ckpt


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line (``argv`` without the program name)."""
    parser = argparse.ArgumentParser(
        description='Write a tiny SD-shaped ldm checkpoint standing in for '
        'SD weights in the CPU quickstarts: random UNet with a latent '
        'pass-through output conv, average-pooling VAE encoder.')
    parser.add_argument('out', help='output .ckpt file')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random weights (default 0)')
    parser.add_argument('--random-vae', action='store_true',
                        help='keep the VAE random instead of pooling')
    parser.add_argument('--random-unet', action='store_true',
                        help='keep the UNet fully random (no latent '
                        'pass-through)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = parse_args(argv)
    write_tiny_sd_checkpoint(args.out, seed=args.seed,
                             pooling_vae=not args.random_vae,
                             passthrough_unet=not args.random_unet)
    print(f'Wrote {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
