"""Speed, memory and FLOPs of any config's model, with random weights.

:func:`run_benchmark` builds the model of a config without Stable Diffusion
weights or class-embedding files (random initialisation: weights do not
change the timing), makes a synthetic batch and measures

* ``forward``: the model's ``mode='tensor'`` forward (backbone, neck, head)
  on a preprocessed batch, without gradient;
* ``train``: one training step as the runner makes it
  (``model.train_step``: preprocessing, forward, loss, backward, the
  config's optimizer with its parameter groups);
* ``test``: the config's test-time path on a test-size image: the test
  pipeline (or ``tta_pipeline``) applied to a synthetic image, then
  ``tta_model.test_step`` when the config has a ``tta_model`` (depth: flip +
  shift windows; segmentation: scales x flips), else ``model.test_step``;

each as the median of ``iters`` runs after ``warmup`` runs, with images per
second, the peak memory of the phase (CUDA: ``max_memory_allocated``; CPU:
the process's peak resident set, reset before the phase through
``/proc/self/clear_refs``), FLOPs per image counted by
:class:`torch.utils.flop_counter.FlopCounterMode` (convolutions, matrix
products and attention, multiply-add = 2 FLOPs) and the achieved FLOP/s as
a fraction of a square matrix product run on the same device and dtype
(:func:`matmul_probe`).

Task families plug in with their ground truth: the training step needs data
samples with the targets the loss reads. A model class either defines
``synthetic_data_samples(batch_size, size)`` returning a list of data
samples, or a function is registered for its class name (or a base class
name) with :func:`register_synthetic_samples`. Depth estimators
(``gt_depth_map``) and mmseg encoder-decoders (``gt_sem_seg``) are
registered here.

Hand-written because mmengine's and mmseg's benchmark scripts time only
inference of a built dataset and report no FLOPs or training memory.
"""
from __future__ import annotations

import copy
import gc
import json
import os
import platform
import resource
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict

__all__ = [
    'register_synthetic_samples', 'synthetic_data_samples',
    'prepare_benchmark_config', 'build_benchmark_model', 'matmul_probe',
    'count_flops', 'PeakMemory', 'run_benchmark', 'format_table',
    'machine_description', 'training_memory'
]

SampleBuilder = Callable[[nn.Module, int, Tuple[int, int], torch.Generator],
                         List]
_SAMPLE_BUILDERS: Dict[str, SampleBuilder] = {}


def register_synthetic_samples(*class_names: str):
    """Register a synthetic-ground-truth builder for model classes.

    The decorated function is called as ``fn(model, batch_size, (h, w),
    generator)`` and returns ``batch_size`` data samples carrying what the
    model's ``loss`` reads. The first class of the model's MRO whose name is
    registered is used.

    Args:
        *class_names (str): Model class names, e.g.
            ``'DiffusionDepthEstimator'``.
    """

    def wrap(fn: SampleBuilder) -> SampleBuilder:
        for name in class_names:
            _SAMPLE_BUILDERS[name] = fn
        return fn

    return wrap


def _meta(h: int, w: int) -> dict:
    # a path naming a NYU scene class: per-image conditioners take the
    # same path as with real data
    return dict(img_path='synthetic/kitchen_0001/rgb_00001.jpg',
                img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                scale_factor=(1.0, 1.0), flip=False)


@register_synthetic_samples('DiffusionDepthEstimator')
def _depth_samples(model, batch_size, size, gen):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    h, w = size
    max_depth = float(getattr(model.decode_head, 'max_depth', 10.0))
    out = []
    for _ in range(batch_size):
        depth = 0.1 * max_depth + 0.8 * max_depth * torch.rand(
            1, h, w, generator=gen)
        sample = SegDataSample(metainfo=_meta(h, w))
        sample.gt_depth_map = PixelData(data=depth)
        out.append(sample)
    return out


@register_synthetic_samples('EncoderDecoder')
def _seg_samples(model, batch_size, size, gen):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    h, w = size
    k = int(model.decode_head.num_classes)
    out = []
    for _ in range(batch_size):
        sample = SegDataSample(metainfo=_meta(h, w))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, k, (1, h, w), generator=gen))
        out.append(sample)
    return out


def synthetic_data_samples(model: nn.Module, batch_size: int,
                           size: Tuple[int, int], seed: int = 0) -> List:
    """Data samples with random ground truth for a training step.

    Args:
        model (nn.Module): The (unwrapped) model.
        batch_size (int): Number of samples.
        size (tuple[int, int]): Image ``(H, W)`` in pixels.
        seed (int): Seed of the random targets.

    Returns:
        list: One data sample per image.

    Raises:
        TypeError: No builder for the model's family.
    """
    if hasattr(model, 'synthetic_data_samples'):
        return model.synthetic_data_samples(batch_size, tuple(size))
    gen = torch.Generator().manual_seed(seed)
    for cls in type(model).__mro__:
        if cls.__name__ in _SAMPLE_BUILDERS:
            return _SAMPLE_BUILDERS[cls.__name__](model, batch_size,
                                                   tuple(size), gen)
    raise TypeError(
        f'No synthetic data samples for {type(model).__name__}: give the '
        'class a synthetic_data_samples(batch_size, size) method or register '
        'a builder with vpd.apis.benchmark.register_synthetic_samples')


def _walk(node: Any, fn: Callable[[dict], None]) -> None:
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            _walk(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, fn)


def prepare_benchmark_config(cfg: Config,
                             storage_dtype: Optional[str] = None) -> Config:
    """The config's model without weight files, for a single process.

    Stable Diffusion weights and class-embedding files are dropped (random
    weights of the same shapes; see
    :func:`vpd.apis.inference.prepare_config_for_checkpoint`), ``SyncBN``
    becomes ``BN``; ``storage_dtype`` sets ``backbone.dtype``.

    Args:
        cfg (Config): Loaded config; changed in place.
        storage_dtype (str, optional): ``'bfloat16'`` / ``'float16'``
            storage of the frozen VAE and the UNet. Defaults to None.

    Returns:
        Config: ``cfg``.
    """
    from vpd.apis.inference import prepare_config_for_checkpoint
    prepare_config_for_checkpoint(cfg)

    def rewrite(d: dict) -> None:
        if d.get('type') == 'SyncBN':
            d['type'] = 'BN'
        cond = d.get('class_embeddings')
        if isinstance(cond, str) and not os.path.isfile(cond):
            d['class_embeddings'] = None
        if (d.get('type') == 'StableDiffusionBackbone'
                and storage_dtype is not None):
            d['dtype'] = storage_dtype

    _walk(cfg.model, rewrite)
    return cfg


def build_benchmark_model(cfg: Config, device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` (already prepared) on ``device``."""
    from vpd.registry import MODELS
    model = MODELS.build(ConfigDict(copy.deepcopy(cfg.model)))
    return model.to(device)


def _sync(device: str) -> None:
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def time_fn(fn: Callable[[], Any], iters: int, warmup: int,
            device: str = 'cpu') -> List[float]:
    """Seconds of each of ``iters`` calls of ``fn`` after ``warmup``."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


class PeakMemory:
    """Peak memory of a block, in bytes (``.peak`` after the block).

    CUDA: ``torch.cuda.max_memory_allocated`` after resetting the peak.
    CPU: the process's peak resident set size (``VmHWM``), reset at entry
    by writing 5 to ``/proc/self/clear_refs`` (Linux); where that is not
    possible, the lifetime peak (``getrusage``) is reported and
    ``.reset_ok`` is False.
    """

    def __init__(self, device: str = 'cpu') -> None:
        self.device = torch.device(device)
        self.peak = 0
        self.reset_ok = True

    @staticmethod
    def _hwm() -> int:
        try:
            with open('/proc/self/status') as f:
                for line in f:
                    if line.startswith('VmHWM:'):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def __enter__(self) -> 'PeakMemory':
        gc.collect()
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            try:
                with open('/proc/self/clear_refs', 'w') as f:
                    f.write('5')
            except OSError:
                self.reset_ok = False
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == 'cuda':
            self.peak = int(torch.cuda.max_memory_allocated(self.device))
        else:
            self.peak = self._hwm()


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args,
                    out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flops(grad_out_shape, query_shape, key_shape,
                             value_shape, *args, out_shape=None,
                             **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape,
                                    value_shape)


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker: every count goes to
    the global total."""
    parents = {'Global'}
    is_bw = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` (:class:`FlopCounterMode`).

    PyTorch's counter has no formula for the CPU kernel of fused attention
    (``_scaled_dot_product_flash_attention_for_cpu``); the one of its other
    attention kernels is used for it.
    """
    from torch.utils.flop_counter import FlopCounterMode
    aten = torch.ops.aten
    custom = {}
    for name, formula in (
            ('_scaled_dot_product_flash_attention_for_cpu', _cpu_sdpa_flops),
            ('_scaled_dot_product_flash_attention_for_cpu_backward',
             _cpu_sdpa_backward_flops)):
        if hasattr(aten, name):
            custom[getattr(aten, name)] = formula
    counter = FlopCounterMode(display=False, custom_mapping=custom)
    # Only the total is needed: the per-module breakdown's tracker puts
    # hooks on every module output and fails on modules that return a
    # parameter unchanged (a conditioner's learnable prompts).
    if hasattr(counter, 'mod_tracker'):
        counter.mod_tracker = _GlobalOnly()
    with counter:
        fn()
    return int(counter.get_total_flops())


def matmul_probe(device: str = 'cpu', dtype: torch.dtype = torch.float32,
                 n: int = 1024, iters: int = 5) -> float:
    """FLOP/s of an ``n x n`` matrix product on the device and dtype.

    The yardstick of "fraction of peak": what this process reaches on the
    plainest dense operation, with the same threads and precision.
    """
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    times = time_fn(lambda: a @ b, iters, 1, device)
    return 2.0 * n**3 / statistics.median(times)


def machine_description(device: str = 'cpu') -> str:
    """A one-line description of the device (CPU model and threads, or
    the GPU's name)."""
    if torch.device(device).type == 'cuda':
        return torch.cuda.get_device_name(torch.device(device))
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    name = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return f'{name}, {torch.get_num_threads()} threads'


def _random_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _test_pipeline_cfg(cfg: Config) -> Tuple[list, bool]:
    """The steps of the test-time pipeline without annotation loading, and
    whether it is the ``tta_pipeline``."""
    from vpd.apis.inference import INFERENCE_SKIPPED_TRANSFORMS
    use_tta = 'tta_model' in cfg and 'tta_pipeline' in cfg
    if use_tta:
        steps = copy.deepcopy(list(cfg.tta_pipeline))
    elif 'test_pipeline' in cfg:
        steps = copy.deepcopy(list(cfg.test_pipeline))
    else:
        steps = copy.deepcopy(list(cfg.test_dataloader.dataset.pipeline))

    def clean(seq):
        out = []
        for step in seq:
            if isinstance(step, (list, tuple)):
                inner = clean(step)
                if inner:
                    out.append(inner)
                continue
            kind = step.get('type')
            if kind in INFERENCE_SKIPPED_TRANSFORMS:
                continue
            if kind == 'LoadImageFromFile':
                step = dict(type='LoadImageFromNDArray')
            if kind == 'TestTimeAug':
                step['transforms'] = clean(step['transforms'])
            out.append(step)
        return out

    return clean(steps), use_tta


def test_time_batch(cfg: Config, batch_size: int, size: Tuple[int, int],
                    seed: int = 0) -> Tuple[dict, bool]:
    """A test batch of synthetic images through the config's test (or
    TTA) pipeline, collated as the test dataloader does.

    Returns:
        tuple[dict, bool]: The batch and whether it is a TTA batch.
    """
    from mmengine.dataset import Compose, pseudo_collate
    steps, use_tta = _test_pipeline_cfg(cfg)
    pipeline = Compose(steps)
    data = []
    for i in range(batch_size):
        item = pipeline(dict(img=_random_image(*size, seed + i),
                             img_path='synthetic/kitchen_0001/rgb_00001.jpg'))
        data.append(item)
    return pseudo_collate(data), use_tta


def _default_sizes(cfg: Config) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """(training crop, test image) sizes read from the config.

    The crop: the config's ``crop_size`` variable, else the training
    pipeline's ``RandomCrop``, else the data preprocessor's ``size``, else
    512x512. The test image: KITTI's 352x1216 after ``KBCrop``; for a depth
    model trained on square crops (NYU) an image of NYU's 3:4 aspect as tall
    as the crop (480x640 for 480 crops), so that the shift windows run;
    otherwise the crop.
    """
    def pair(c):
        return (c, c) if isinstance(c, int) else tuple(int(v) for v in c)

    crop = pair(cfg.crop_size) if cfg.get('crop_size') else None
    kb_crop = False
    try:
        for step in cfg.train_dataloader.dataset.pipeline:
            if crop is None and step.get('type') == 'RandomCrop':
                crop = pair(step.get('crop_size'))
    except AttributeError:
        pass
    try:
        kb_crop = any(step.get('type') == 'KBCrop'
                      for step in cfg.test_dataloader.dataset.pipeline)
    except AttributeError:
        pass
    pre = cfg.model.get('data_preprocessor') or {}
    if crop is None and pre.get('size'):
        crop = pair(pre['size'])
    crop = crop or (512, 512)
    test = crop
    if cfg.model.get('type') == 'DiffusionDepthEstimator':
        if kb_crop:
            test = (352, 1216)
        elif crop[0] == crop[1]:
            test = (crop[0], -(-crop[0] * 4 // 3))
    return crop, test


def _unwrap(model: nn.Module) -> nn.Module:
    from mmengine.model import BaseTTAModel, is_model_wrapper
    if is_model_wrapper(model):
        model = model.module
    if isinstance(model, BaseTTAModel):
        model = model.module
    return model


def _wrap_distributed(model: nn.Module, strategy: str,
                      device: str) -> nn.Module:
    """DDP- or FSDP-wrap ``model`` as ``tools/train.py --strategy`` does,
    initialising the process group from the ``torchrun`` environment."""
    import torch.distributed as dist
    from mmengine.model import (MMDistributedDataParallel,
                                MMFullyShardedDataParallel)

    from vpd.engine.sharding import diffusion_block_wrap_policy
    cuda = torch.device(device).type == 'cuda'
    if not dist.is_initialized():
        for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            if key not in os.environ:
                raise RuntimeError(
                    f'strategy={strategy} needs {key} in the environment: '
                    'start the benchmark with torchrun --nproc_per_node N')
        dist.init_process_group(backend='nccl' if cuda else 'gloo')
    if strategy == 'ddp':
        return MMDistributedDataParallel(
            module=model, device_ids=[torch.cuda.current_device()]
            if cuda else None, broadcast_buffers=False)
    if strategy == 'fsdp':
        return MMFullyShardedDataParallel(
            module=model, use_orig_params=True,
            sharding_strategy='FULL_SHARD',
            auto_wrap_policy=diffusion_block_wrap_policy,
            device_id=torch.cuda.current_device() if cuda else 'cpu')
    raise ValueError(f'strategy must be "ddp" or "fsdp", got "{strategy}"')


class _quiet_mmengine:
    """Silence mmengine's per-parameter warnings (frozen VAE) while the
    optimizer is built."""

    def __enter__(self):
        import logging

        from mmengine.logging import MMLogger
        self.logger = MMLogger.get_current_instance()
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def _apply_memory_format(model: nn.Module) -> None:
    model.to(memory_format=torch.channels_last)


def run_benchmark(cfg: Config,
                  *,
                  phases: Sequence[str] = ('forward', 'train', 'test'),
                  batch_size: int = 1,
                  train_batch_size: Optional[int] = None,
                  size: Optional[Tuple[int, int]] = None,
                  test_size: Optional[Tuple[int, int]] = None,
                  iters: int = 3,
                  warmup: int = 1,
                  device: str = 'cpu',
                  amp: Optional[str] = None,
                  storage_dtype: Optional[str] = None,
                  channels_last: bool = False,
                  compile: bool = False,
                  flops: bool = True,
                  probe: bool = True,
                  seed: int = 0,
                  strategy: Optional[str] = None,
                  log: Optional[Callable[[str], None]] = None) -> dict:
    """Measure the phases of a config's model (see the module docstring).

    Args:
        cfg (Config): Loaded config (changed in place).
        phases (Sequence[str]): Any of ``'forward'``, ``'train'``,
            ``'test'``.
        batch_size (int): Images per forward and test batch.
        train_batch_size (int, optional): Images per training step;
            defaults to the config's per-GPU ``train_dataloader.batch_size``
            (the recipe's memory; BatchNorm heads need more than one).
        size (tuple, optional): ``(H, W)`` of forward and training inputs;
            defaults to the config's training crop.
        test_size (tuple, optional): ``(H, W)`` of the synthetic test image
            given to the test pipeline; defaults to NYU's 480x640 (KITTI
            352x1216) for depth, the crop otherwise.
        iters (int): Timed repetitions (the median is reported).
        warmup (int): Untimed repetitions first.
        device (str): ``'cpu'`` or ``'cuda[:i]'``.
        amp (str, optional): Autocast ``'bf16'`` / ``'fp16'`` / ``'auto'``
            (see :mod:`vpd.engine.precision`); training then uses the
            optimizer wrapper ``tools/train.py --amp`` would.
        storage_dtype (str, optional): ``backbone.dtype`` for the
            inference phases (``'bfloat16'`` / ``'float16'``); the training
            phase keeps float32 weights.
        channels_last (bool): Convert the model and inputs to channels-last
            memory format.
        compile (bool): ``torch.compile`` the backbone.
        flops (bool): Count FLOPs (one extra call per phase).
        probe (bool): Run the matmul probe.
        seed (int): Seed of weights and synthetic data.
        strategy (str, optional): ``'ddp'`` or ``'fsdp'``: the training
            phase runs data-parallel over the processes of a ``torchrun``
            launch (gloo on CPUs), each with ``train_batch_size`` images,
            DDP or FSDP wrapped as ``tools/train.py --strategy`` wraps it
            (:mod:`vpd.engine.sharding`); ``train`` then also reports
            ``peak_mem_bytes_per_rank``.
        log (callable, optional): Progress messages.

    Returns:
        dict: ``config``, ``machine``, settings, ``params`` and one entry
        per phase with ``seconds`` (all runs), ``median_s``,
        ``images_per_s``, ``peak_mem_bytes``, ``flops_per_image``,
        ``achieved_flops`` and ``fraction_of_matmul``.
    """
    from mmengine.optim import build_optim_wrapper

    from vpd.engine.precision import (autocast, enable_amp_train,
                                      resolve_amp_dtype)
    log = log or (lambda msg: None)
    device_type = torch.device(device).type
    amp_dtype = resolve_amp_dtype(amp, device_type)
    crop, test_default = _default_sizes(cfg)
    size = tuple(size or crop)
    test_size = tuple(test_size or test_default)
    if train_batch_size is None:
        train_batch_size = int(
            (cfg.get('train_dataloader') or {}).get('batch_size', batch_size))
    prepare_benchmark_config(cfg)
    unknown = set(phases) - {'forward', 'train', 'test'}
    if unknown:
        raise ValueError(f'unknown phases {sorted(unknown)}; choose from '
                         'forward, train, test')
    result: Dict[str, Any] = dict(
        config=getattr(cfg, 'filename', None), machine=machine_description(
            device), device=device, batch_size=batch_size,
        train_batch_size=train_batch_size, size=list(size),
        test_size=list(test_size), iters=iters, warmup=warmup,
        amp=None if amp_dtype is None else str(amp_dtype).split('.')[-1],
        storage_dtype=storage_dtype or 'float32',
        channels_last=channels_last, compile=compile,
        threads=torch.get_num_threads(), torch=torch.__version__,
        phases={})
    if probe:
        probe_dtype = amp_dtype or getattr(torch, storage_dtype or 'float32')
        result['matmul_flops'] = matmul_probe(device, probe_dtype)
        result['matmul_dtype'] = str(probe_dtype).split('.')[-1]
        log(f'matmul probe ({result["matmul_dtype"]}): '
            f'{result["matmul_flops"] / 1e9:.1f} GFLOP/s')

    def finish(name: str, times: List[float], peak: PeakMemory,
               flop_count: Optional[int], images: int) -> None:
        med = statistics.median(times)
        entry = dict(seconds=times, median_s=med, images=images,
                     images_per_s=images / med,
                     peak_mem_bytes=peak.peak, peak_mem_reset=peak.reset_ok,
                     flops_per_image=None, achieved_flops=None,
                     fraction_of_matmul=None)
        if flop_count is not None:
            entry['flops_per_image'] = flop_count / images
            entry['achieved_flops'] = flop_count / med
            if result.get('matmul_flops'):
                entry['fraction_of_matmul'] = (entry['achieved_flops'] /
                                               result['matmul_flops'])
        result['phases'][name] = entry
        log(f'{name}: median {med:.3f} s over {len(times)} runs, peak '
            f'{peak.peak / 2**30:.2f} GB')

    def build(storage: Optional[str]) -> nn.Module:
        torch.manual_seed(seed)
        c = copy.deepcopy(cfg)
        if storage:
            _walk(c.model, lambda d: d.update(dtype=storage) if d.get(
                'type') == 'StableDiffusionBackbone' else None)
        model = build_benchmark_model(c, device)
        if channels_last:
            _apply_memory_format(model)
        if compile:
            model.backbone = torch.compile(model.backbone)
        return model

    def convert(x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(
            memory_format=torch.channels_last) if channels_last else x

    inf_phases = [p for p in ('forward', 'test') if p in phases]
    if inf_phases:
        log(f'building {cfg.model.type} for inference')
        model = build(storage_dtype).eval()
        result['params'] = sum(p.numel() for p in model.parameters())
        result['trainable_params'] = sum(
            p.numel() for p in model.parameters() if p.requires_grad)
        if 'forward' in phases:
            samples = synthetic_data_samples(model, batch_size, size, seed)
            data = dict(inputs=[
                torch.from_numpy(_random_image(*size, seed + i)).permute(
                    2, 0, 1) for i in range(batch_size)
            ], data_samples=samples)
            with torch.no_grad():
                data = model.data_preprocessor(data, False)
            inputs, samples = convert(data['inputs']), data['data_samples']

            def forward():
                with torch.no_grad(), autocast(amp_dtype, device_type):
                    return model(inputs, samples, mode='tensor')

            n = None
            if flops:
                n = count_flops(forward)
            with PeakMemory(device) as peak:
                times = time_fn(forward, iters, warmup, device)
            finish('forward', times, peak, n, batch_size)
        if 'test' in phases:
            batch, use_tta = test_time_batch(cfg, batch_size, test_size,
                                             seed)
            runner_model = model
            if 'tta_model' in cfg:
                from vpd.registry import MODELS
                tta_cfg = copy.deepcopy(cfg.tta_model)
                tta_cfg['module'] = model
                runner_model = MODELS.build(tta_cfg)
            result['test_tta'] = 'tta_model' in cfg

            def test():
                with torch.no_grad(), autocast(amp_dtype, device_type):
                    return runner_model.test_step(batch)

            n = count_flops(test) if flops else None
            with PeakMemory(device) as peak:
                times = time_fn(test, iters, warmup, device)
            finish('test', times, peak, n, batch_size)
        if storage_dtype is not None or 'train' not in phases:
            del model
            gc.collect()
            model = None
    else:
        model = None

    if 'train' in phases:
        if model is None:
            log(f'building {cfg.model.type} for training')
            model = build(None)
        model.train()
        result.setdefault('params',
                          sum(p.numel() for p in model.parameters()))
        result.setdefault('trainable_params', sum(
            p.numel() for p in model.parameters() if p.requires_grad))
        wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
        if amp_dtype is not None:
            holder = Config(dict(optim_wrapper=wrapper_cfg))
            enable_amp_train(holder, amp)
            wrapper_cfg = holder.optim_wrapper
        # parameter groups decided on the unsharded model, as
        # tools/train.py --strategy fsdp does (ParamGroupFSDPStrategy)
        id_to_name = {id(p): n for n, p in model.named_parameters()}
        with _quiet_mmengine():
            optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
        if strategy:
            model = _wrap_distributed(model, strategy, device)
            result['strategy'] = strategy
            result['world_size'] = torch.distributed.get_world_size()
            if strategy == 'fsdp':
                from vpd.engine.strategies.param_group_fsdp_strategy import \
                    rebuild_on_shards
                optim_wrapper.optimizer = rebuild_on_shards(
                    optim_wrapper.optimizer, id_to_name, model)
        samples = synthetic_data_samples(_unwrap(model), train_batch_size,
                                         size, seed)
        data = dict(inputs=[
            torch.from_numpy(_random_image(*size, seed + i)).permute(2, 0, 1)
            for i in range(train_batch_size)
        ], data_samples=samples)

        def step():
            return model.train_step(copy.copy(data), optim_wrapper)

        # the first step allocates the optimizer state: inside the peak
        with PeakMemory(device) as peak:
            times = time_fn(step, iters, warmup, device)
        n = None
        if flops:
            n = count_flops(step)
        finish('train', times, peak, n, train_batch_size)
        if strategy:
            peaks = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(peaks, peak.peak)
            result['phases']['train']['peak_mem_bytes_per_rank'] = peaks
            result['phases']['train']['peak_mem_bytes'] = max(peaks)
        del model, optim_wrapper
        gc.collect()
    return result


def training_memory(cfg: Config, size: Tuple[int, int],
                    batch_size: int = 1,
                    gradient_checkpointing: bool = False) -> dict:
    """Per-GPU training memory from parameter, gradient, AdamW-state and
    measured activation sizes, without running the model.

    The model is built on the ``meta`` device (no memory, no compute) and a
    ``mode='tensor'`` forward of ``batch_size`` images is traced with
    :func:`torch.autograd.graph.saved_tensors_hooks`: the activations are
    the distinct storages saved for backward (views counted once through
    their base, parameters left out). With gradient checkpointing only the
    block inputs are saved (the recomputation of one block during backward
    comes on top).

    Args:
        cfg (Config): Loaded config (changed in place: no weight files).
        size (tuple[int, int]): Image ``(H, W)``.
        batch_size (int): Images per GPU.
        gradient_checkpointing (bool): Set the backbone's option.

    Returns:
        dict: Bytes of ``params`` (fp32, all), ``grads`` and ``adamw``
        (trainable), ``activations`` and their ``total``.
    """
    from vpd.registry import MODELS
    prepare_benchmark_config(cfg)
    _walk(cfg.model, lambda d: d.update(
        gradient_checkpointing=gradient_checkpointing)
        if d.get('type') == 'StableDiffusionBackbone' else None)
    with torch.device('meta'):
        model = MODELS.build(ConfigDict(copy.deepcopy(cfg.model)))
    model.train()
    params = {id(p) for p in model.parameters()}
    saved: Dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        base = t._base if t._base is not None else t
        if id(base) not in params:
            saved.setdefault(id(base), base.numel() * base.element_size())
        return t

    x = torch.empty(batch_size, 3, *size, device='meta')
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x, None, mode='tensor')
    n_all = sum(p.numel() * p.element_size() for p in model.parameters())
    n_train = sum(p.numel() * p.element_size() for p in model.parameters()
                  if p.requires_grad)
    out = dict(params=n_all, grads=n_train, adamw=2 * n_train,
               activations=sum(saved.values()))
    out['total'] = sum(out.values())
    return out


_PHASE_NAMES = {'forward': 'forward (no grad)', 'train': 'train step',
                'test': 'test'}


def format_table(result: dict) -> str:
    """The result of :func:`run_benchmark` as a Markdown table."""
    lines = []
    amp = result.get('amp') or 'fp32'
    lines.append(
        f'{os.path.basename(result.get("config") or "")} | {result["machine"]}'
        f' | batch {result["batch_size"]} (train '
        f'{result["train_batch_size"]}) | input {result["size"][0]}x'
        f'{result["size"][1]} (test image {result["test_size"][0]}x'
        f'{result["test_size"][1]}) | autocast {amp} | storage '
        f'{result["storage_dtype"]} | channels_last '
        f'{result["channels_last"]} | compile {result["compile"]}')
    if result.get('strategy'):
        per_rank = result['phases'].get('train', {}).get(
            'peak_mem_bytes_per_rank') or []
        lines.append(
            f'train step: {result["strategy"].upper()} over '
            f'{result["world_size"]} processes, {result["train_batch_size"]}'
            ' image(s) each; peak memory per process (GB): ' +
            ', '.join(f'{p / 2**30:.2f}' for p in per_rank))
    if result.get('params') is not None:
        lines.append(f'parameters {result["params"] / 1e6:.1f} M '
                     f'({result["trainable_params"] / 1e6:.1f} M trainable)')
    if result.get('matmul_flops'):
        lines.append(f'matmul probe ({result["matmul_dtype"]}): '
                     f'{result["matmul_flops"] / 1e9:.1f} GFLOP/s')
    lines.append('')
    lines.append('| phase | median s / batch | images/s | peak mem (GB) | '
                 'GFLOP / image | achieved GFLOP/s | % of matmul |')
    lines.append('| --- | --- | --- | --- | --- | --- | --- |')
    for name, entry in result['phases'].items():
        label = _PHASE_NAMES.get(name, name)
        if name == 'test' and result.get('test_tta'):
            label = 'test (config TTA)'

        def fmt(v, scale=1.0, digits=1):
            return '–' if v is None else f'{v / scale:.{digits}f}'

        lines.append(
            f'| {label} | {entry["median_s"]:.3f} | '
            f'{entry["images_per_s"]:.3f} | '
            f'{fmt(entry["peak_mem_bytes"], 2**30, 2)} | '
            f'{fmt(entry["flops_per_image"], 1e9)} | '
            f'{fmt(entry["achieved_flops"], 1e9)} | '
            f'{fmt(entry["fraction_of_matmul"], 0.01, 0)} |')
    return '\n'.join(lines)


def dump_json(result: dict, path: str) -> None:
    """Write ``result`` as JSON (atomically; ``'-'``: standard output)."""
    text = json.dumps(result, indent=2, default=str)
    if path == '-':
        print(text)
        return
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(text + '\n')
    os.replace(tmp, path)
