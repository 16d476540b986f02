"""Train a model from a config: ``python tools/train.py CONFIG [options]``."""
import argparse
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from vpd.engine.checkpoint_io import resume_checkpoint  # noqa: E402
from vpd.engine.config_check import load_config  # noqa: E402
from vpd.utils import register_all_modules  # noqa: E402
from vpd.utils.cli import CfgOptionsAction, run_tool  # noqa: E402
from vpd.utils.dist import (prepare_cpu_distributed,  # noqa: E402
                            shutdown_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a vpd model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir '
        'automatically')
    parser.add_argument(
        '--amp',
        nargs='?',
        const='auto',
        default=None,
        choices=['auto', 'bf16', 'fp16'],
        help='mixed-precision training: bf16 where supported (CUDA Ampere+ '
        'and CPUs), else fp16 with loss scaling; or name the dtype')
    parser.add_argument(
        '--strategy',
        choices=['ddp', 'fsdp', 'deepspeed'],
        default='ddp',
        help='multi-process training: DDP (default), FSDP (parameters, '
        'gradients and optimizer state sharded; gloo on CPUs) or DeepSpeed '
        'ZeRO-2 (CUDA), through mmengine\'s FlexibleRunner')
    parser.add_argument(
        '--tensorboard',
        action='store_true',
        help='also log to TensorBoard (work_dir/<timestamp>/vis_data; needs '
        'pip install -e ".[tensorboard]")')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def add_tensorboard(cfg: Config) -> Config:
    """Add mmengine's ``TensorboardVisBackend`` to the config's visualizer."""
    try:
        import tensorboard  # noqa: F401
    except ImportError as e:
        raise ImportError('--tensorboard needs the tensorboard package: pip '
                          'install -e ".[tensorboard]"') from e
    backends = list(cfg.visualizer.get('vis_backends') or [])
    if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
        backends.append(dict(type='TensorboardVisBackend'))
    cfg.visualizer.vis_backends = backends
    return cfg


def build_cfg(args) -> Config:
    """Load the config and apply the command-line options."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.cfg_options:
        # a shorter run keeps its warm-up / decay inside it (or says why not)
        from vpd.engine import fit_schedule_to_run_length
        old_train_cfg = Config.fromfile(args.config).get('train_cfg')
        fit_schedule_to_run_length(cfg, old_train_cfg, args.cfg_options)
    from vpd.apis import resolve_config_paths
    resolve_config_paths(cfg, ROOT)
    if args.tensorboard:
        add_tensorboard(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        from vpd.engine.precision import enable_amp_train
        enable_amp_train(cfg, args.amp)
    if args.strategy != 'ddp':
        from vpd.engine.sharding import configure_strategy
        configure_strategy(cfg, args.strategy)
    cfg.resume = args.resume
    if args.resume and cfg.get('load_from') is None:
        # last_checkpoint read robustly (empty, dangling, non-UTF-8 paths)
        cfg.load_from = resume_checkpoint(cfg.work_dir)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    cfg = prepare_cpu_distributed(build_cfg(args))
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        from vpd.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    runner.train()
    shutdown_distributed()
    return runner


if __name__ == '__main__':
    run_tool(main)
