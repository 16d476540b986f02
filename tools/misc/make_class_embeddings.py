"""Make VPD class embeddings (the ``class_embeddings.pth`` files) offline.

Examples::

    # NYUv2 scene embeddings of VPD depth (80 templates averaged): [27, 768]
    python tools/misc/make_class_embeddings.py \\
        --clip /ckpt/clip-vit-large-patch14 --classes nyu --mode depth \\
        --out work_dirs/nyu_class_embeddings.pth

    # ADE20K embeddings of VPD seg ("a photo of a {}"): [150, 768]
    python tools/misc/make_class_embeddings.py \\
        --clip /ckpt/sd15/text_encoder --classes ade20k --mode seg \\
        --out work_dirs/ade20k_class_embeddings.pth

    # your own dataset, one class name per line
    python tools/misc/make_class_embeddings.py --clip /ckpt/ViT-L-14.pt \\
        --class-file names.txt --mode seg --out my_class_embeddings.pth

``--clip`` must be a local transformers CLIP folder, an open_clip folder or
an open_clip/OpenAI checkpoint file: nothing is downloaded.  OpenAI's
original release (``ViT-L-14.pt``) is a TorchScript archive, which runs code
when loaded: it is refused unless ``--allow-torchscript`` is given (only for
a file you trust; the transformers folder ``openai/clip-vit-large-patch14``
holds the same weights as safetensors). The output is a plain ``float32``
tensor ``[num_classes, dim]`` saved with ``torch.save`` (readable with
``torch.load(path, weights_only=True)``), written atomically; embeddings
with NaN/Inf values are refused.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

# Keep in sync with vpd.utils.clip_text (not imported here so that --help
# and argument errors do not pay for importing torch).
CLASS_SETS = ('nyu', 'ade20k', 'cityscapes')
DEFAULT_MODES = {'nyu': 'depth', 'ade20k': 'seg', 'cityscapes': 'seg'}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (Sequence[str], optional): Arguments without the program name;
            defaults to ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Compute VPD class embeddings with a local CLIP text '
        'encoder (pooled EOS feature, unnormalised). Nothing is downloaded.')
    parser.add_argument(
        '--clip', required=True, metavar='PATH',
        help='local CLIP text encoder: a transformers folder (config.json + '
        'weights; a CLIPModel, a CLIPTextModel or a Stable Diffusion '
        'pipeline/text_encoder folder), an open_clip folder '
        '(open_clip_config.json + weights) or a checkpoint file')
    names = parser.add_mutually_exclusive_group(required=True)
    names.add_argument('--classes', choices=CLASS_SETS,
                       help='built-in class set')
    names.add_argument('--class-file', metavar='TXT',
                       help='text file with one class name per line')
    parser.add_argument(
        '--mode', choices=('depth', 'seg'), default=None,
        help='depth: mean over the 80 ImageNet templates (VPD NYUv2); seg: '
        '"a photo of a {}" (VPD ADE20K). Default: depth for --classes nyu, '
        'seg otherwise')
    parser.add_argument('--out', required=True, metavar='FILE.pth',
                        help='output file (float32 tensor [K, D])')
    parser.add_argument('--batch-size', type=int, default=64,
                        help='prompts per forward pass (default: 64)')
    parser.add_argument('--device', default='cpu',
                        help='torch device, e.g. cpu or cuda:0 (default: cpu)')
    parser.add_argument('--backend', choices=('auto', 'transformers',
                                              'open_clip'), default='auto',
                        help='how to load --clip (default: auto)')
    parser.add_argument('--tokenizer', choices=('auto', 'open_clip',
                                                'transformers'),
                        default='auto',
                        help='auto: a verified local transformers tokenizer '
                        'if present, else open_clip\'s bundled one')
    parser.add_argument('--open-clip-model', default=None, metavar='ARCH',
                        help='open_clip architecture of a checkpoint FILE '
                        '(default: ViT-L-14-quickgelu; OpenAI TorchScript '
                        'files are detected)')
    parser.add_argument('--allow-torchscript', action='store_true',
                        help='load a TorchScript archive (OpenAI\'s original '
                        'ViT-L-14.pt) with torch.jit.load, which RUNS CODE '
                        'stored in the file; only for files you trust')
    parser.add_argument('--no-progress', action='store_true',
                        help='do not show a progress bar')
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.mode is None:
        args.mode = DEFAULT_MODES.get(args.classes, 'seg')
    out_dir = osp.dirname(osp.abspath(args.out))
    if osp.isdir(args.out):
        parser.error(f'--out "{args.out}" is a folder; expected a file path '
                     'such as class_embeddings.pth')
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        parser.error(f'--out "{args.out}": "{out_dir}" is not a folder')
    return args


def save_tensor_atomic(tensor, path: str) -> None:
    """Save a tensor atomically (temp file, fsync, rename; mode 0644 under
    the usual umask), refusing NaN/Inf values.

    Readers never see a half-written file, and an existing file is only
    replaced once the new one is complete
    (:func:`vpd.utils.checkpoint.save_checkpoint_atomic`).

    Args:
        tensor (torch.Tensor): The tensor to save.
        path (str): Destination file.

    Raises:
        NonFiniteTensorError: ``tensor`` holds NaN/Inf.
    """
    from vpd.utils.checkpoint import (NonFiniteTensorError,
                                      non_finite_tensors,
                                      save_checkpoint_atomic)
    bad = non_finite_tensors(tensor, 'embeddings')
    if bad:
        raise NonFiniteTensorError(
            f'Refused to write "{path}": the class embeddings hold '
            f'{bad[0][1]} NaN/Inf values of {bad[0][2]}; the CLIP weights '
            'are probably broken.', path=path)
    save_checkpoint_atomic(tensor, path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool.

    Args:
        argv (Sequence[str], optional): Arguments without the program name.

    Returns:
        int: Exit code (0 on success).
    """
    args = parse_args(argv)

    import torch

    from vpd.utils.clip_text import (build_class_embeddings, get_class_names,
                                     load_clip_text_encoder, read_class_file)

    # Cheap checks first: the class file, then the CLIP path; the built-in
    # ADE20K / Cityscapes names need mmseg (a few seconds to import).
    class_names: Optional[List[str]] = None
    if args.class_file is not None:
        class_names = read_class_file(args.class_file)
    model, tokenizer = load_clip_text_encoder(
        args.clip, backend=args.backend, device=args.device,
        tokenizer=args.tokenizer, open_clip_model=args.open_clip_model,
        allow_torchscript=args.allow_torchscript)
    if class_names is None:
        class_names = get_class_names(args.classes)
    source = args.class_file or args.classes
    num_prompts = len(class_names) * (80 if args.mode == 'depth' else 1)
    print(f'CLIP text encoder: {model.source} ({model.backend}, '
          f'dim {model.width}); tokenizer: {tokenizer.source}')
    print(f'{len(class_names)} classes from {source}, mode "{args.mode}", '
          f'{num_prompts} prompts on {args.device}')
    emb = build_class_embeddings(class_names, model, tokenizer,
                                 mode=args.mode, batch_size=args.batch_size,
                                 progress=not args.no_progress)
    emb = emb.detach().to('cpu', torch.float32).contiguous().clone()
    save_tensor_atomic(emb, args.out)
    print(f'Saved class embeddings of shape {list(emb.shape)} '
          f'(float32) to {osp.abspath(args.out)}')
    return 0


if __name__ == '__main__':
    # vpd (and torch) is imported only if there is an error to report
    _argv = sys.argv[1:]
    try:
        _status = main([a for a in _argv if a != '--debug'])
    except Exception as _exc:  # noqa: BLE001 - one line for user errors
        from vpd.utils.cli import handle_tool_error
        handle_tool_error(_exc, '--debug' in _argv)
    sys.exit(_status)
