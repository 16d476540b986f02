"""Convert a released VPD / Meta Prompts / mmseg checkpoint to this project.

::

    python tools/model_converters/official_to_vpd.py CONFIG SRC DST \\
        [--source auto|vpd|metaprompts|mmseg|FORMAT] [--cfg-options ...]

``SRC`` is a file, a model-zoo name (``python tools/download.py --list``)
or a URL. The model is built from ``CONFIG`` without Stable Diffusion
weights (the checkpoint holds them). The UNet/VAE architecture is read from
the checkpoint's tensor shapes (``vpd/models/backbones/sd_arch.py``; the
settings shapes do not fix, such as the number of attention heads, come from
the config's architecture or the closest preset), or from an ldm yaml given
with ``--original-config``; when it differs from the config's, the
inferred one is used and printed, and every width that follows from it is
derived. The resolved model config is written into the output's metadata
(``model_config``), so ``tools/test.py CONFIG DST``, ``tools/inference.py``
and ``vpd.apis.init_model`` build the same model from the same CONFIG. The
ldm UNet/VAE keys are
renamed by diffusers' own conversion functions, everything else by one table
per source format (``vpd.models.converters.official``). Loading is strict:
every model key must be filled and every checkpoint key used or explicitly
dropped (VAE decoder, noise-schedule buffers, training state); anything else
stops the conversion with the list of offending keys.

``DST`` ending in ``.safetensors`` gets a flat state dict (no pickle);
anything else an mmengine-style ``{'meta': ..., 'state_dict': ...}`` file.
Either way it is written atomically and can be used directly::

    python tools/test.py CONFIG DST [--tta]

Formats: ``--list-formats``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time
import warnings
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    from vpd.models.converters import FAMILIES, SOURCE_FORMATS
    from vpd.utils.cli import CfgOptionsAction
    parser = argparse.ArgumentParser(
        description='Convert an official VPD / Meta Prompts / mmseg VPD '
        'checkpoint to this project (strict, numerically equivalent).')
    parser.add_argument('config', nargs='?',
                        help='config of the target model')
    parser.add_argument('src', nargs='?',
                        help='source checkpoint: file, model-zoo name or URL')
    parser.add_argument('dst', nargs='?',
                        help='output file (.pth or .safetensors)')
    parser.add_argument(
        '--source', default='auto',
        choices=['auto'] + sorted(FAMILIES) + list(SOURCE_FORMATS),
        help='source family or format (default: detected from the keys)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override config settings, e.g. model.backbone.unet=tiny')
    parser.add_argument(
        '--original-config',
        help='ldm yaml of the Stable Diffusion architecture (e.g. '
        'v2-inference.yaml); default: inferred from the tensor shapes')
    parser.add_argument('--list-formats', action='store_true',
                        help='list the source formats and exit')
    args = parser.parse_args(argv)
    if not args.list_formats and not (args.config and args.src and args.dst):
        parser.error('CONFIG, SRC and DST are required')
    return args


def _log(msg: str) -> None:
    print(f'[official_to_vpd] {msg}', flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the conversion.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        int: Exit status (0 on success).
    """
    args = parse_args(argv)
    from vpd.models.backbones.sd_arch import ArchInferenceError
    from vpd.models.converters import (SOURCE_FORMATS, ConversionError,
                                       convert_checkpoint,
                                       fit_config_to_checkpoint,
                                       model_config_to_meta)
    if args.list_formats:
        for fmt in SOURCE_FORMATS.values():
            state = 'supported' if fmt.supported else 'NOT supported'
            print(f'{fmt.name:18s} --source {fmt.family:12s} {state}: '
                  f'{fmt.description}')
        return 0

    from vpd.apis.inference import (dataset_meta_from_config,
                                    prepare_config_for_checkpoint)
    from vpd.engine.config_check import load_config
    from vpd.registry import MODELS
    from vpd.utils import register_all_modules
    from vpd.utils.checkpoint import (CheckpointError, load_checkpoint_file,
                                      save_checkpoint_atomic)
    from vpd.utils.model_zoo import resolve_checkpoint

    if not osp.isfile(args.config):
        print(f'error: config file "{args.config}" not found',
              file=sys.stderr)
        return 1
    cfg = load_config(args.config, args.cfg_options)
    prepare_config_for_checkpoint(cfg)
    register_all_modules(init_default_scope=True)

    t0 = time.time()
    try:
        src = resolve_checkpoint(args.src)
        _log(f'reading {src}')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # reported below instead
            changes = fit_config_to_checkpoint(cfg, src, args.original_config)
        for line in changes:
            _log(f'architecture from the checkpoint: {line}')
        checkpoint = load_checkpoint_file(src)
    except (FileNotFoundError, IsADirectoryError, CheckpointError,
            ArchInferenceError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    _log(f'building the model of {args.config} (no SD weights needed)')
    model = MODELS.build(cfg.model)
    model.eval()
    _log('converting')
    try:
        result = convert_checkpoint(checkpoint, args.source, model, name=src)
    except (ConversionError, NotImplementedError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for line in result.summary():
        _log(line)
    model.load_state_dict(result.state_dict, strict=True)
    source_format = result.source
    del checkpoint, result
    state = {k: v.detach().contiguous() for k, v in
             model.state_dict().items()}
    meta = {
        'converted_from': os.fspath(src),
        'source_format': source_format,
        'config': osp.abspath(args.config),
        'converter': 'tools/model_converters/official_to_vpd.py',
        'time': time.strftime('%Y-%m-%d %H:%M:%S'),
        # what the model was built from (architecture, --cfg-options):
        # tools/test.py and init_model use it when CONFIG builds another
        'model_config': model_config_to_meta(cfg.model),
    }
    dataset_meta = dataset_meta_from_config(cfg)
    dst = args.dst
    if dst.lower().endswith('.safetensors'):
        # safetensors wants distinct storages
        state = {k: v.clone() for k, v in state.items()}
        save_checkpoint_atomic(state, dst,
                               metadata={k: str(v) for k, v in meta.items()})
    else:
        if dataset_meta:
            meta['dataset_meta'] = dataset_meta
        save_checkpoint_atomic({'meta': meta, 'state_dict': state}, dst)
    size = osp.getsize(dst) / 2**20
    _log(f'wrote {dst} ({len(state)} tensors, {size:.1f} MiB) in '
         f'{time.time() - t0:.1f} s')
    _log(f'evaluate it with: python tools/test.py {args.config} {dst}')
    return 0


if __name__ == '__main__':
    from vpd.utils.cli import run_tool
    run_tool(main)
