"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)
from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from vpd.engine.config_check import load_config  # noqa: E402
from vpd.utils import register_all_modules  # noqa: E402
from vpd.utils.cli import CfgOptionsAction, run_tool  # noqa: E402
from vpd.utils.dist import (prepare_cpu_distributed,  # noqa: E402
                            shutdown_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and eval) a vpd model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file (.pth or .safetensors; ours, or a released VPD '
        '/ Meta Prompts / mmseg VPD checkpoint, converted on the fly), a '
        'model-zoo name or a URL')
    parser.add_argument(
        '--work-dir',
        help='where the logs and metrics go (default: the folder of the '
        'checkpoint when it is a training run\'s, else '
        'work_dirs/<config name>)')
    parser.add_argument(
        '--out',
        type=str,
        help='directory for raw predictions: 16-bit PNG depth in '
        'millimetres (depth) or label PNGs (segmentation)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='write DIR/<image stem>.png for every test image: input | '
        'prediction | ground truth (colourised depth, or class overlays)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
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
    parser.add_argument(
        '--tta', action='store_true', help='Test time augmentation')
    parser.add_argument(
        '--amp', nargs='?', const='auto', default=None,
        choices=['auto', 'bf16', 'fp16'],
        help='mixed-precision testing (bf16 on CPU / CUDA, fp16 on CUDA); '
        'see vpd/engine/precision.py')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg: Config, args) -> Config:
    """Turn on the visualisation hook of the config for --show/--show-dir."""
    default_hooks = cfg.default_hooks
    if 'visualization' not in default_hooks:
        raise RuntimeError(
            'VisualizationHook must be included in default_hooks. Refer to '
            'configs/_base_/default_runtime.py')
    hook = default_hooks['visualization']
    hook['draw'] = True
    ours = hook.get('type') in ('DepthVisualizationHook',
                                'SegOverlayVisualizationHook')
    if args.show:
        if ours:
            raise ValueError('--show opens windows; write the images with '
                             '--show-dir DIR instead')
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        if ours:
            # one layout for every task: DIR/<image stem>.png
            hook['show_dir'] = osp.abspath(args.show_dir)
            hook['interval'] = 1
        else:
            # a config's own mmseg SegVisualizationHook: its visualizer's
            # layout (vis_data/vis_image/...)
            visualizer = cfg.visualizer
            visualizer['save_dir'] = args.show_dir
            hook['interval'] = 1
    return cfg


def default_work_dir(config: str, checkpoint: str) -> str:
    """Where a test run logs when ``--work-dir`` is not given.

    Next to the checkpoint when it is one of a training run (its folder has
    the ``last_checkpoint`` file mmengine's ``CheckpointHook`` writes): the
    test's ``<timestamp>/`` log folder then sits beside the training's.
    Otherwise (a downloaded or hand-placed checkpoint)
    ``work_dirs/<config name>``.

    Args:
        config (str): The config file.
        checkpoint (str): The checkpoint argument (a path, zoo name or URL).

    Returns:
        str: The work dir.
    """
    folder = osp.dirname(osp.abspath(osp.expanduser(checkpoint)))
    if osp.isfile(osp.expanduser(checkpoint)) and osp.isfile(
            osp.join(folder, 'last_checkpoint')):
        return folder
    return osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])


def build_cfg(args) -> Config:
    """Load the config and apply the command-line options."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    from vpd.apis import resolve_config_paths
    resolve_config_paths(cfg, ROOT)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(args.config, args.checkpoint)
    from vpd.apis.inference import prepare_config_for_checkpoint
    from vpd.utils.model_zoo import resolve_checkpoint
    cfg.load_from = resolve_checkpoint(args.checkpoint)
    # The checkpoint holds every weight (SD UNet/VAE, class embeddings): the
    # model is built without the config's SD weights / embedding file.
    # (and fitted to it: a converted file's stored model config, or the SD
    # architecture of a released one, wins over the config, with a warning)
    prepare_config_for_checkpoint(cfg, cfg.load_from)
    # Testing needs none of the training parts. mmengine builds the train
    # loop lazily the first time anything reads ``runner.iter`` (mmseg's
    # visualisation hook does, for its step), which would open the training
    # set: a user with only the test split, or a released checkpoint and
    # no training data, would get a FileNotFoundError.
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler'):
        cfg[key] = None
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_model' not in cfg:
            raise KeyError(f'--tta: config "{args.config}" defines no '
                           'tta_model')
        if 'tta_pipeline' in cfg:
            cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.amp:
        from vpd.engine.precision import enable_amp_test
        enable_amp_test(cfg, args.amp)
    if args.out is not None:
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, (dict, ConfigDict)):
            evaluators = [evaluators]
        for ev in evaluators:
            ev['output_dir'] = osp.abspath(args.out)
            if 'IoUMetric' in str(ev.get('type', '')):
                ev['keep_results'] = True  # mmseg: keep label PNGs
    return cfg


def load_weights(runner: Runner, checkpoint: str) -> None:
    """Strictly load ``checkpoint`` into the runner's model.

    Through :func:`vpd.apis.load_model_weights`: the file is opened by the
    safe loader (``.pth`` or ``.safetensors``), a released VPD / Meta Prompts
    / mmseg checkpoint is converted on the fly, and a missing, unexpected or
    misshapen key is an error naming it (mmengine's own ``load_from`` would
    load non-strictly and leave random weights behind).
    """
    from mmengine.model import BaseTTAModel, is_model_wrapper

    from vpd.apis import load_model_weights
    model = runner.model
    if is_model_wrapper(model):
        model = model.module
    if isinstance(model, BaseTTAModel):
        model = model.module
    load_model_weights(model, checkpoint, log=runner.logger.info)
    runner.logger.info(f'Load checkpoint from {checkpoint}')


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    cfg = prepare_cpu_distributed(build_cfg(args))
    checkpoint, cfg.load_from = cfg.load_from, None
    if 'runner_type' in cfg:
        from vpd.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    load_weights(runner, checkpoint)
    metrics = runner.test()
    shutdown_distributed()
    return metrics


if __name__ == '__main__':
    run_tool(main)
