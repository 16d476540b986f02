"""Sharded training through mmengine's ``FlexibleRunner`` strategies.

``tools/train.py --strategy fsdp`` (or ``deepspeed``) calls
:func:`configure_strategy`, which turns a config into a ``FlexibleRunner``
config with mmengine's ``FSDPStrategy`` (PyTorch FSDP, full sharding of
parameters, gradients and AdamW state) or ``DeepSpeedStrategy`` (ZeRO
stage 2: gradients and optimizer state sharded). The optimizer is built by
the config's own constructor after wrapping, so the parameter groups (UNet
lr multiplier, frozen VAE, no decay on norms and 1-D parameters) are the
same as without sharding: :class:`ParamGroupFSDPStrategy` builds the groups
on the unsharded model (after sharding every weight looks 1-D to the
constructor) and FSDP runs with ``use_orig_params=True`` so that they map
onto the shards by name.

FSDP units (:func:`diffusion_block_wrap_policy`) are the ResNet blocks,
transformer blocks and down/up-sampling convolutions of the UNet and the
VAE encoder: modules that are always called as a whole, small enough that
gathering one of them costs little memory (the largest SD1.5 unit holds
about 35 M parameters). What remains (UNet input conv and time embedding,
conditioner, neck, head) lives in the root unit. The backbone calls the
UNet's blocks itself rather than ``unet.forward``, so the UNet as a whole
must not be a unit.

Checkpoints are saved consolidated (``state_dict_cfg='full'``: rank 0
writes one ordinary mmengine checkpoint with the original parameter
names), so ``tools/test.py``, :func:`vpd.apis.init_model` and a plain
model load them as they load any checkpoint.

Without GPUs, FSDP runs on the CPU with the gloo backend (``device_id``
None; the process group is created by
:func:`vpd.utils.dist.prepare_cpu_distributed`). DeepSpeed needs CUDA.
"""
from typing import Optional

import torch
from mmengine.config import Config

STRATEGIES = ('ddp', 'fsdp', 'deepspeed')

#: diffusers classes that are FSDP units (always called as a whole).
WRAPPED_BLOCKS = ('ResnetBlock2D', 'Transformer2DModel', 'Downsample2D',
                  'Upsample2D')


def diffusion_block_wrap_policy(module: torch.nn.Module, recurse: bool,
                                nonwrapped_numel: int = 0,
                                **kwargs) -> bool:
    """FSDP auto-wrap policy: ResNet / transformer blocks and resamplers.

    Args:
        module (nn.Module): Candidate module.
        recurse (bool): FSDP asks whether to descend into ``module``.
        nonwrapped_numel (int): Unused (FSDP's policy signature).

    Returns:
        bool: Descend (always) or wrap (one of :data:`WRAPPED_BLOCKS`).
    """
    if recurse:
        return True
    return type(module).__name__ in WRAPPED_BLOCKS


def _register_policy() -> None:
    from mmengine.registry import FUNCTIONS
    if FUNCTIONS.get('diffusion_block_wrap_policy') is None:
        FUNCTIONS.register_module(name='diffusion_block_wrap_policy',
                                  module=diffusion_block_wrap_policy)


_register_policy()


def deepspeed_zero2_config(amp_dtype: Optional[str] = None) -> dict:
    """The DeepSpeed config of ``--strategy deepspeed`` (ZeRO stage 2).

    Args:
        amp_dtype (str, optional): ``'bfloat16'`` or ``'float16'`` mixed
            precision (DeepSpeed's own), None for float32.

    Returns:
        dict: ``DeepSpeedStrategy`` keyword arguments.
    """
    cfg = dict(
        type='DeepSpeedStrategy',
        zero_optimization=dict(
            stage=2,
            allgather_partitions=True,
            allgather_bucket_size=2e8,
            reduce_scatter=True,
            reduce_bucket_size=2e8,
            overlap_comm=True,
            contiguous_gradients=True),
        gradient_clipping=None,
        inputs_to_half=None)
    if amp_dtype == 'float16':
        cfg['fp16'] = dict(enabled=True, loss_scale=0,
                           initial_scale_power=16)
        cfg['inputs_to_half'] = ['inputs']
    elif amp_dtype == 'bfloat16':
        cfg['bf16'] = dict(enabled=True)
    return cfg


def configure_strategy(cfg: Config, strategy: str = 'ddp') -> Config:
    """Switch a training config to a sharding strategy.

    Args:
        cfg (Config): The run's config, ``launcher`` set; changed in place.
        strategy (str): ``'ddp'`` (unchanged: mmengine's ``Runner`` with
            DDP), ``'fsdp'`` or ``'deepspeed'``.

    Returns:
        Config: ``cfg``.

    Raises:
        ValueError: Unknown strategy, no distributed launcher, DeepSpeed
            without CUDA, or an optimizer wrapper the strategy cannot use.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f'--strategy must be one of {list(STRATEGIES)}, '
                         f'got "{strategy}"')
    if strategy == 'ddp':
        return cfg
    if cfg.get('launcher', 'none') == 'none':
        raise ValueError(
            f'--strategy {strategy} shards over processes: start the run '
            'with tools/dist_train.sh CONFIG N --strategy ... (or '
            '--launcher pytorch under torchrun)')
    cfg.runner_type = 'FlexibleRunner'
    cfg.pop('model_wrapper_cfg', None)
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    cuda = torch.cuda.is_available()
    if strategy == 'fsdp':
        model_wrapper = dict(
            type='MMFullyShardedDataParallel',
            use_orig_params=True,
            sharding_strategy='FULL_SHARD',
            auto_wrap_policy='diffusion_block_wrap_policy')
        if not cuda:
            model_wrapper['device_id'] = 'cpu'  # FSDP on the CPU (gloo)
        cfg.strategy = dict(type='ParamGroupFSDPStrategy',
                            model_wrapper=model_wrapper,
                            state_dict_cfg='full')
        if kind == 'AmpOptimWrapper':
            wrapper.use_fsdp = True  # FSDP's sharded gradient scaler
        elif kind not in ('OptimWrapper', 'AutocastOptimWrapper'):
            raise ValueError(f'--strategy fsdp: unsupported optimizer '
                             f'wrapper "{kind}"')
        return cfg
    if not cuda:
        raise ValueError('--strategy deepspeed needs CUDA GPUs; on CPUs use '
                         '--strategy fsdp')
    amp_dtype = None
    if kind == 'AmpOptimWrapper':
        amp_dtype = wrapper.get('dtype') or 'float16'
    elif kind == 'AutocastOptimWrapper':
        amp_dtype = wrapper.get('dtype') or 'bfloat16'
    elif kind != 'OptimWrapper':
        raise ValueError(f'--strategy deepspeed: unsupported optimizer '
                         f'wrapper "{kind}"')
    for key in ('loss_scale', 'dtype', 'use_fsdp'):
        wrapper.pop(key, None)
    wrapper.type = 'DeepSpeedOptimWrapper'
    cfg.strategy = deepspeed_zero2_config(amp_dtype)
    return cfg


def strip_wrapper_names(name: str) -> str:
    """A parameter name without FSDP's ``_fsdp_wrapped_module.`` parts."""
    return name.replace('_fsdp_wrapped_module.', '')


def param_group_table(optimizer: torch.optim.Optimizer,
                      model: torch.nn.Module) -> dict:
    """``{parameter name: (lr, weight_decay)}`` of an optimizer, with the
    names FSDP wrapping adds removed (to compare sharded and plain runs).
    Frozen parameters (no gradient) are left out."""
    names = {id(p): strip_wrapper_names(n)
             for n, p in model.named_parameters()}
    table = {}
    for group in optimizer.param_groups:
        for p in group['params']:
            if p.requires_grad and id(p) in names:
                table[names[id(p)]] = (float(group['lr']),
                                       float(group['weight_decay']))
    return table
