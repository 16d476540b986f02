"""Distributed runs on machines without GPUs (gloo on the CPU)."""
import os

from mmengine.config import Config


def prepare_cpu_distributed(cfg: Config) -> Config:
    """Let ``--launcher pytorch`` run on CPUs with the gloo backend.

    mmengine's launcher calls ``torch.cuda.set_device`` and wraps the model
    in DDP with ``device_ids=[LOCAL_RANK]``, both of which need GPUs. When no
    GPU is visible this function initialises the process group itself (with
    gloo, from the ``torchrun`` environment; mmengine then skips its own
    initialisation) and configures DDP for CPU modules. With GPUs, or
    without a launcher, it changes nothing.

    Args:
        cfg (Config): The run's config (``launcher`` already set).

    Returns:
        Config: The same config.
    """
    import torch
    import torch.distributed as dist
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return cfg
    if cfg.launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {cfg.launcher} without GPUs is not supported; use '
            '--launcher pytorch (tools/dist_train.sh) for CPU runs')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            if key not in os.environ:
                raise RuntimeError(
                    f'--launcher pytorch needs {key} in the environment; '
                    'start the job with tools/dist_train.sh or torchrun')
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper
    return cfg


def shutdown_distributed() -> None:
    """Tear the process group down before the interpreter exits.

    A gloo process group left alive at exit can abort its process while its
    worker threads are destroyed ("terminate called without an active
    exception", SIGABRT), which fails a run that has already finished and
    saved everything. The barrier first lets every rank finish its last
    collective. Does nothing outside a distributed run.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
