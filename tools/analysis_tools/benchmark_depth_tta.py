"""Time the depth test-time augmentation batched vs one window at a time.

(``benchmark.py`` times any config's forward, training step and test-time
path; this script answers one narrower question about the depth TTA.)

The reference's depth test (flip + shift windows) is run by
:meth:`DiffusionDepthEstimator.inference` with every window and its flip of
an image stacked into one batch, so each refinement loop makes one UNet
call. This script measures what that buys on the same model: it times the
batched path against a loop that runs the windows and flips one at a time,
checks that both give the same depth (max abs difference printed), and
prints the per-image seconds and the speedup.

Weights do not change the timing: the model is built from the config with
random weights (the Stable Diffusion weights are not loaded unless
``--load-sd``; a class-embedding file that does not exist is replaced by
random embeddings). The test options come from the config's ``tta_model``
(or ``model.test_cfg``) unless ``--flip`` / ``--shift-windows`` are given.

Example (tiny preset, CPU)::

    python tools/analysis_tools/benchmark_depth_tta.py \\
    configs/quickstart/meta-prompts_tiny_1xb4-300_synthetic-depth-96x128.py \\
    --size 96 128 --shift-windows 2 --flip 1 --iters 5
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

from vpd.engine.config_check import load_config  # noqa: E402
from vpd.utils.cli import CfgOptionsAction, run_tool  # noqa: E402
from vpd.utils import register_all_modules  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Per-image test time of the depth flip + shift-window '
        'test, batched vs one window at a time')
    parser.add_argument('config', help='depth config file')
    parser.add_argument('--iters', type=int, default=5,
                        help='timed repetitions of each path')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed repetitions of each path before '
                        'timing')
    parser.add_argument('--size', type=int, nargs=2, default=None,
                        metavar=('H', 'W'),
                        help='test image size (default: 480 640, or 352 '
                        '1216 when the config has a KBCrop)')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images per test batch')
    parser.add_argument('--flip', type=int, choices=[0, 1], default=None,
                        help='override the flip option (1 / 0)')
    parser.add_argument('--shift-windows', type=int, default=None,
                        help='override the number of shift windows')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads')
    parser.add_argument('--load-sd', action='store_true',
                        help='load the Stable Diffusion weights named by the '
                        'config (timing does not need them)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override settings of the config, key=value')
    return parser.parse_args(argv)


def _has_kb_crop(cfg: Config) -> bool:
    try:
        pipeline = cfg.test_dataloader.dataset.pipeline
    except AttributeError:
        return False
    return any(t.get('type') == 'KBCrop' for t in pipeline)


def build_model(cfg: Config, load_sd: bool) -> torch.nn.Module:
    """The depth estimator of ``cfg`` with random (or SD) weights.

    Built as ``benchmark.py`` builds models
    (:func:`vpd.apis.benchmark.prepare_benchmark_config`); with ``load_sd``
    the config's Stable Diffusion weights are kept.
    """
    from vpd.apis.benchmark import (build_benchmark_model,
                                    prepare_benchmark_config)
    pretrained = cfg.model.backbone.get('pretrained')
    prepare_benchmark_config(cfg)
    if load_sd:
        cfg.model.backbone.pretrained = pretrained
    model = build_benchmark_model(cfg)
    if not hasattr(model, 'extract_depth'):
        raise TypeError(f'{type(model).__name__} is not a depth estimator '
                        '(no extract_depth)')
    return model.eval()


def windows(model, h: int, w: int,
            n: int) -> List[Tuple[int, int, int, int]]:
    """Every view window the model runs (y0, x0, height, width): the shift
    windows and, when they leave the far edge uncovered, the edge window."""
    wins, edge = model._windows(h, w, n, model.test_cfg.get('window_stride'))
    return wins + ([edge] if edge is not None else [])


@torch.no_grad()
def sequential_inference(model, inputs: torch.Tensor, flip: bool,
                         n_windows: int) -> torch.Tensor:
    """The same test as ``model.inference``, one window / flip per call."""
    h, w = inputs.shape[-2:]
    wins, edge = model._windows(h, w, n_windows,
                                model.test_cfg.get('window_stride'))
    preds = []
    for y, x, wh, ww in wins + ([edge] if edge is not None else []):
        crop = inputs[..., y:y + wh, x:x + ww]
        pred = model.extract_depth(crop)
        if flip:
            pred = (pred + model.extract_depth(crop.flip(-1)).flip(-1)) / 2
        preds.append(pred)
    return model._merge_windows(preds, wins, edge, h, w)


@torch.no_grad()
def batched_inference(model, inputs: torch.Tensor, flip: bool,
                      n_windows: int) -> torch.Tensor:
    """``model.inference`` with the given test options."""
    saved = model.test_cfg
    model.test_cfg = dict(saved, flip=flip, shift_windows=n_windows)
    try:
        return model.inference(inputs)
    finally:
        model.test_cfg = saved


def time_interleaved(fns, iters: int, warmup: int
                     ) -> Tuple[List[float], List[torch.Tensor]]:
    """Mean seconds per call of each function, and their last outputs.

    The functions are called in turn (``a, b, a, b, ...``) so that a change
    of machine load during the run affects them alike.
    """
    outs = [None] * len(fns)
    for _ in range(warmup):
        outs = [fn() for fn in fns]
    total = [0.0] * len(fns)
    for _ in range(iters):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            outs[i] = fn()
            total[i] += time.perf_counter() - start
    return [t / max(iters, 1) for t in total], outs


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=True)
    cfg = load_config(args.config, args.cfg_options)
    tta = dict(cfg.model.get('test_cfg') or {})
    tta.update({k: v for k, v in (cfg.get('tta_model') or {}).items()
                if k in ('flip', 'shift_windows')})
    flip = bool(tta.get('flip', True)) if args.flip is None else bool(
        args.flip)
    n_win = int(tta.get('shift_windows', 1) or 1) if (
        args.shift_windows is None) else args.shift_windows
    if args.size:
        h, w = args.size
    else:
        h, w = (352, 1216) if _has_kb_crop(cfg) else (480, 640)

    torch.manual_seed(args.seed)
    model = build_model(cfg, args.load_sd).to(args.device)
    inputs = torch.randn(args.batch_size, 3, h, w, device=args.device)
    n_views = len(windows(model, h, w, n_win)) * (2 if flip else 1)
    loops = getattr(model.backbone, 'num_loops', 1)
    print(f'{osp.basename(args.config)}: {h}x{w} input, batch '
          f'{args.batch_size}, {n_views} views per image '
          f'({len(windows(model, h, w, n_win))} windows'
          f'{" x flip" if flip else ""}), {loops} UNet loop(s), '
          f'{torch.get_num_threads()} threads')

    (t_seq, t_bat), (seq, bat) = time_interleaved([
        lambda: sequential_inference(model, inputs, flip, n_win),
        lambda: batched_inference(model, inputs, flip, n_win)
    ], args.iters, args.warmup)
    diff = float((seq - bat).abs().max())
    per_seq = t_seq / args.batch_size
    per_bat = t_bat / args.batch_size
    print(f'one window at a time: {per_seq:.3f} s / image '
          f'({n_views} UNet calls per loop)')
    print(f'batched:              {per_bat:.3f} s / image '
          f'(1 UNet call per loop)')
    print(f'speedup: {per_seq / per_bat:.2f}x   max |batched - sequential| = '
          f'{diff:.2e} m')
    return dict(sequential=per_seq, batched=per_bat,
                speedup=per_seq / per_bat, max_abs_diff=diff,
                views=n_views)


if __name__ == '__main__':
    run_tool(main)
