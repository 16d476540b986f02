"""Train a model from a config: ``python tools/train.py CONFIG [options]``."""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from vpd.utils import register_all_modules  # noqa: E402
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
        '--cfg-options',
        nargs='+',
        action=DictAction,
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


def build_cfg(args) -> Config:
    """Load the config and apply the command-line options."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config file "{args.config}" not found')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
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
    main()
