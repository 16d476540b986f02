"""Speed, memory and FLOPs of any config's model, with random weights.

::

    python tools/analysis_tools/benchmark.py CONFIG
        [--phases forward train test] [--batch-size 1] [--size H W]
        [--test-size H W] [--iters 3] [--warmup 1] [--amp {auto,bf16,fp16}]
        [--storage-dtype bfloat16] [--channels-last] [--compile]
        [--device cuda] [--json FILE|-]
    python tools/analysis_tools/benchmark.py CONFIG --training-memory
    torchrun --nproc_per_node 2 tools/analysis_tools/benchmark.py CONFIG \
        --phases train --strategy fsdp       # sharded training step

Builds the config's model without Stable Diffusion weights or embedding
files (random weights of the same shapes: weights do not change timing) and
prints one table: median seconds per batch (after warm-up), images/s, peak
memory (CUDA max allocated; CPU peak resident set of the process), FLOPs per
image and the achieved FLOP/s as a fraction of a matrix product on the same
device and dtype. Phases: ``forward`` (tensor-mode forward, no gradient),
``train`` (one optimizer step of the config's optimizer) and ``test`` (the
config's test-time path, its ``tta_model`` when it has one, on a synthetic
test image through the test pipeline). See :mod:`vpd.apis.benchmark`.

Example (tiny preset, seconds)::

    python tools/analysis_tools/benchmark.py --iters 2 \\
        configs/quickstart/vpd_tiny_1xb8-150_synthetic-depth-96x128.py
"""
import argparse
import copy
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from vpd.apis.benchmark import dump_json, format_table, run_benchmark  # noqa: E402,E501
from vpd.engine.precision import AMP_CHOICES  # noqa: E402
from vpd.utils import register_all_modules  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time, memory and FLOPs of a config\'s model (random '
        'weights)')
    parser.add_argument('config', help='config file')
    parser.add_argument('--phases', nargs='+',
                        default=['forward', 'train', 'test'],
                        choices=['forward', 'train', 'test'])
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images per forward / test batch')
    parser.add_argument('--train-batch-size', type=int, default=None,
                        help='images per training step (default: the '
                        'config\'s per-GPU batch)')
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help='forward / training input size (default: the '
                        'config\'s training crop)')
    parser.add_argument('--test-size', type=int, nargs=2, metavar=('H', 'W'),
                        help='synthetic test image size (default: 480 640 '
                        'for NYU depth, 352 1216 for KITTI, else the crop)')
    parser.add_argument('--iters', type=int, default=3,
                        help='timed runs per phase (median reported)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed runs per phase first')
    parser.add_argument('--device', default=None,
                        help='cpu or cuda[:i] (default: cuda if available)')
    parser.add_argument('--amp', choices=AMP_CHOICES, default=None,
                        help='autocast dtype (default: none, float32)')
    parser.add_argument('--storage-dtype', choices=['bfloat16', 'float16'],
                        default=None,
                        help='store the frozen VAE and the UNet in this '
                        'dtype for the inference phases')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last memory format')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the backbone')
    parser.add_argument('--no-flops', action='store_true',
                        help='skip FLOP counting (one extra call per phase)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--strategy', choices=['ddp', 'fsdp'], default=None,
                        help='train phase data-parallel over the processes '
                        'of a torchrun launch, DDP or FSDP-sharded')
    parser.add_argument('--training-memory', action='store_true',
                        help='only compute the per-GPU training memory '
                        '(parameters, gradients, AdamW, activations measured '
                        'on the meta device) at --size and --train-batch-size,'
                        ' with and without gradient checkpointing')
    parser.add_argument('--json', metavar='FILE',
                        help='also write the result as JSON ("-": stdout)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value')
    return parser.parse_args(argv)


def _training_memory(cfg: Config, args) -> dict:
    from vpd.apis.benchmark import _default_sizes, training_memory
    size = tuple(args.size or _default_sizes(cfg)[0])
    batch = args.train_batch_size or int(
        (cfg.get('train_dataloader') or {}).get('batch_size', 1))
    result = dict(config=args.config, size=list(size), batch_size=batch)
    print(f'{osp.basename(args.config)}: training memory per GPU, {batch} '
          f'x {size[0]}x{size[1]}, fp32 (GB)')
    print('| gradient checkpointing | params | grads | AdamW | activations |'
          ' total |')
    print('| --- | --- | --- | --- | --- | --- |')
    for ckpt in (False, True):
        mem = training_memory(copy.deepcopy(cfg), size, batch, ckpt)
        result['checkpointing' if ckpt else 'plain'] = mem
        print(f'| {ckpt} | ' + ' | '.join(
            f'{mem[k] / 2**30:.2f}' for k in ('params', 'grads', 'adamw',
                                              'activations', 'total')) +
              ' |')
    if args.json:
        dump_json(result, args.json)
    return result


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config file "{args.config}" not found')
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.training_memory:
        return _training_memory(cfg, args)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    result = run_benchmark(
        cfg, phases=args.phases, batch_size=args.batch_size,
        train_batch_size=args.train_batch_size,
        size=args.size, test_size=args.test_size, iters=args.iters,
        warmup=args.warmup, device=device, amp=args.amp,
        storage_dtype=args.storage_dtype, channels_last=args.channels_last,
        compile=args.compile, flops=not args.no_flops,
        seed=args.seed, strategy=args.strategy,
        log=lambda m: print(m, file=sys.stderr, flush=True))
    result['config'] = args.config
    rank = 0
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank = torch.distributed.get_rank()
    if rank == 0:
        print(format_table(result))
        if args.json:
            dump_json(result, args.json)
    if args.strategy:
        from vpd.utils.dist import shutdown_distributed
        shutdown_distributed()
    return result


if __name__ == '__main__':
    main()
