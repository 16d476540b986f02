"""CPU quickstart: synthetic data -> train -> evaluate -> colourised depth.

``python tools/quickstart.py`` runs, on a fresh checkout with no weights and
no datasets:

1. ``tools/dataset_converters/make_synthetic_depth.py`` writes a procedural
   NYU-layout depth set to ``data/synthetic_nyu`` (skipped if present);
2. ``tools/train.py`` trains VPD depth with the tiny SD-shaped preset;
3. ``tools/test.py`` evaluates the last checkpoint and writes colourised
   ``input | prediction | ground truth`` images (``--show-dir``) and 16-bit
   depth PNGs (``--out``);
4. the metric table is printed next to the trivial baseline (predicting the
   training set's mean depth everywhere).

It picks its number of compute threads itself (``--threads`` or
``OMP_NUM_THREADS`` to choose): the CPUs this process may use minus the
machine's current load (the 1-minute load average), at least 1. More threads than idle cores make every
op wait for the others (OpenMP spin-waiting): on a loaded machine that is
many times slower than one thread. The figures depend only on the seed and
the thread count, both printed.

Training logs a line with the ETA every 10 iterations (or 30 s) and saves a
checkpoint every 25 iterations: after Ctrl-C, ``python tools/quickstart.py
--resume`` continues from the last one.
"""
import argparse
import os
import os.path as osp
import sys
import time
from typing import Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))

os.environ.setdefault('HF_HUB_OFFLINE', '1')

DEFAULT_CONFIG = osp.join(
    ROOT, 'configs', 'quickstart',
    'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')
METRICS = ('d1', 'd2', 'd3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log',
           'log10', 'silog')


def pick_num_threads(requested: Optional[int] = None) -> Tuple[int, str]:
    """The number of compute threads to train with, and why.

    Args:
        requested (int, optional): ``--threads``; used as given.

    Returns:
        tuple: ``(threads, reason)``. Without a request: ``OMP_NUM_THREADS``
        if set, else the CPUs this process may use minus the 1-minute load
        average (other work on the machine), rounded down, at least 1.
    """
    if requested is not None:
        if requested < 1:
            raise ValueError(f'--threads must be >= 1, got {requested}')
        return requested, 'as requested with --threads'
    env = os.environ.get('OMP_NUM_THREADS', '')
    if env.isdigit() and int(env) > 0:
        return int(env), f'OMP_NUM_THREADS={env} in the environment'
    cpus = len(os.sched_getaffinity(0)) if hasattr(
        os, 'sched_getaffinity') else (os.cpu_count() or 1)
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else 0.0
    threads = max(1, min(cpus, int(cpus - load)))
    return threads, (f'{cpus} CPUs, load average {load:.1f}; --threads N '
                     'to choose')


def mean_depth_baseline(data_root: str) -> dict:
    """Metrics of predicting the training set's mean depth everywhere."""
    import numpy as np
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from vpd.datasets.transforms import LoadDepthMap
    from vpd.evaluation.metrics import DepthMetric
    from vpd.registry import DATASETS

    def depths(split, prefix):
        ds = DATASETS.build(
            dict(type='NYUDepthDataset', data_root=data_root,
                 ann_file=split, data_prefix=dict(img_path=prefix,
                                                  depth_map_path=prefix),
                 test_mode=True, pipeline=[]))
        load = LoadDepthMap(check_shape=False)
        for i in range(len(ds)):
            yield load(dict(ds.get_data_info(i)))['gt_depth_map']

    vals = [d[d > 1e-3] for d in depths('train_list.txt', 'sync')]
    mean = float(np.concatenate(vals).mean())
    metric = DepthMetric(min_depth=1e-3, max_depth=10.0)
    for gt in depths('test_list.txt', 'official_splits/test'):
        s = SegDataSample()
        s.gt_depth_map = PixelData(data=torch.from_numpy(gt)[None])
        s.pred_depth_map = PixelData(
            data=torch.full((1, *gt.shape), mean, dtype=torch.float32))
        metric.process({}, [s.to_dict()])
    out = metric.compute_metrics(metric.results)
    out['mean_depth'] = mean
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data',
                                                        'synthetic_nyu'))
    parser.add_argument('--work-dir', default=osp.join(
        ROOT, 'work_dirs', 'quickstart'))
    parser.add_argument('--iters', type=int, default=None,
                        help='override the number of training iterations')
    parser.add_argument('--num-train', type=int, default=120)
    parser.add_argument('--num-test', type=int, default=20)
    parser.add_argument('--height', type=int, default=96)
    parser.add_argument('--width', type=int, default=128)
    parser.add_argument('--threads', type=int, default=None,
                        help='compute threads (default: chosen from the '
                        'idle CPUs, see above)')
    parser.add_argument('--resume', action='store_true',
                        help='continue an interrupted run from the last '
                        'checkpoint in --work-dir')
    args = parser.parse_args(argv)

    threads, why = pick_num_threads(args.threads)
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = str(
        threads)
    import torch
    torch.set_num_threads(threads)
    print(f'[quickstart] {threads} compute thread{"s" * (threads > 1)} '
          f'({why}); seed 0', flush=True)

    import vpd  # noqa: F401
    from vpd.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    import test as test_tool
    import train as train_tool
    from make_synthetic_depth import make_synthetic_depth

    t0 = time.time()
    if not osp.isfile(osp.join(args.data_root, 'test_list.txt')):
        print(f'[1/4] writing the synthetic depth set to {args.data_root}')
        make_synthetic_depth(args.data_root, num_train=args.num_train,
                             num_test=args.num_test, height=args.height,
                             width=args.width)
    else:
        print(f'[1/4] using the synthetic depth set in {args.data_root}')

    data_opts = [
        f'train_dataloader.dataset.data_root={args.data_root}',
        f'val_dataloader.dataset.data_root={args.data_root}',
        f'test_dataloader.dataset.data_root={args.data_root}'
    ]
    opts = list(data_opts)
    if args.iters:
        # (tools/train.py rescales the warm-up and decay to the new length)
        opts += [f'train_cfg.max_iters={args.iters}',
                 f'train_cfg.val_interval={args.iters}']
    print('[2/4] training (tiny SD-shaped preset, random weights, CPU)',
          flush=True)
    runner = train_tool.main([args.config, '--work-dir', args.work_dir]
                             + ['--resume'] * args.resume
                             + ['--cfg-options', *opts])
    # this run's last checkpoint (not an older, longer run's in the same
    # work dir)
    ckpt = osp.join(args.work_dir, f'iter_{runner.iter}.pth')
    if not osp.isfile(ckpt):
        raise RuntimeError(f'training wrote no checkpoint {ckpt}')
    print(f'[3/4] evaluating {ckpt}')
    show_dir = osp.join(args.work_dir, 'show')
    out_dir = osp.join(args.work_dir, 'pred_png')
    metrics = test_tool.main([
        args.config, ckpt, '--work-dir', args.work_dir, '--show-dir',
        show_dir, '--out', out_dir, '--cfg-options', *data_opts
    ])
    print('[4/4] mean-depth baseline')
    base = mean_depth_baseline(args.data_root)

    def row(name, m):
        return f'| {name:<22} | ' + ' | '.join(
            f'{m[k]:.4f}' for k in METRICS) + ' |'

    print()
    print('| model                  | ' + ' | '.join(
        f'{k:>6}' for k in METRICS) + ' |')
    print('|' + '---|' * (len(METRICS) + 1))
    print(row('VPD tiny (this run)', metrics))
    print(row(f'mean depth {base["mean_depth"]:.2f} m', base))
    gain = 1 - metrics['rmse'] / base['rmse']
    print(f'\nRMSE {metrics["rmse"]:.4f} vs mean-depth baseline '
          f'{base["rmse"]:.4f}: {100 * gain:.1f}% lower. '
          f'Total time {time.time() - t0:.0f} s with {threads} compute '
          f'thread{"s" * (threads > 1)}.')
    print(f'Colourised input | prediction | ground truth: {show_dir}')
    print(f'16-bit depth PNGs (millimetres): {out_dir}')
    return metrics, base


if __name__ == '__main__':
    from vpd.utils.cli import run_tool
    run_tool(main)
