"""A tiny mmengine Runner (2-weight linear model, 8 samples) for hook tests.

Test files use ``from _tiny_runner import make_runner`` (``tests/`` is put on
``sys.path`` by ``conftest.py``). Building and training it takes well under
a second, so checkpoint, resume and divergence behaviour can be tested
without a Stable Diffusion model.
"""
import uuid
from typing import Callable, List, Optional

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset


class TinyModel(BaseModel):
    """``loss = mean((w . x + b - 1)^2)``; ``loss_hook(iter, loss)`` may
    replace the loss (e.g. with NaN) and ``valid_count(iter)`` reports valid
    target pixels to the MessageHub as the vpd models do."""

    def __init__(self,
                 loss_hook: Optional[Callable] = None,
                 valid_count: Optional[Callable] = None) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        with torch.no_grad():  # deterministic start
            self.linear.weight.copy_(torch.tensor([[0.5, -0.5]]))
            self.linear.bias.zero_()
        self.register_buffer('running', torch.zeros(1))
        self.loss_hook = loss_hook
        self.valid_count = valid_count
        self.calls = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode != 'loss':
            return out
        self.running += out.detach().mean()
        loss = (out - 1).pow(2).mean()
        if self.loss_hook is not None:
            loss = self.loss_hook(self.calls, loss)
        if self.valid_count is not None:
            MessageHub.get_current_instance().update_info(
                'train_valid_targets',
                dict(count=self.valid_count(self.calls),
                     valid_range='ground-truth depth > 0 m',
                     files=[f'img_{self.calls}.png']))
        self.calls += 1
        return dict(loss_tiny=loss)


class TinyDataset(Dataset):
    """8 samples ``[i, 1]`` (an infinite sampler: mmengine sleeps 2 s at each
    epoch end of a finite one); ``data_root`` for messages."""

    data_root = '/data/tiny'
    ann_file = 'tiny_list.txt'
    metainfo = dict(classes=('a', 'b'))

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        return dict(inputs=torch.tensor([float(i) / 8, 1.0]))


def make_runner(work_dir: str,
                max_iters: int,
                name: str,
                model: Optional[nn.Module] = None,
                checkpoint: Optional[dict] = None,
                extra_hooks: Optional[dict] = None,
                custom_hooks: Optional[List] = None,
                resume: bool = False,
                lr: float = 0.1,
                clip_grad: Optional[dict] = None,
                val_evaluator=None) -> Runner:
    """A Runner in the vpd scope with vpd's CheckpointHook.

    Args:
        work_dir (str): Work dir.
        max_iters (int): Iterations (batch 2, so 4 per epoch).
        name (str): ``experiment_name`` prefix (a random suffix keeps
            mmengine's per-process instance names unique).
        model (nn.Module, optional): Defaults to a :class:`TinyModel`.
        checkpoint (dict, optional): ``default_hooks.checkpoint`` overrides.
        extra_hooks (dict, optional): More ``default_hooks`` entries.
        custom_hooks (list, optional): ``custom_hooks``.
        resume (bool): ``--resume``.
        lr (float): SGD learning rate.
        clip_grad (dict, optional): The optim wrapper's ``clip_grad``.
        val_evaluator (optional): With it, validate after every iteration
            on the training samples.
    """
    ckpt = dict(type='CheckpointHook', interval=1, by_epoch=False)
    ckpt.update(checkpoint or {})
    hooks = dict(checkpoint=ckpt,
                 logger=dict(type='LoggerHook', interval=1))
    hooks.update(extra_hooks or {})
    val = {}
    if val_evaluator is not None:
        val = dict(val_dataloader=dict(
            dataset=TinyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4, num_workers=0,
            collate_fn=dict(type='default_collate')),
            val_cfg=dict(type='ValLoop'), val_evaluator=[val_evaluator])
    return Runner(
        model=model if model is not None else TinyModel(),
        work_dir=work_dir,
        experiment_name=f'{name}_{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(
            dataset=TinyDataset(),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters,
                       val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr),
                           clip_grad=clip_grad),
        default_hooks=hooks,
        custom_hooks=custom_hooks,
        resume=resume,
        log_level='WARNING',
        default_scope='vpd',
        **val)


def log_text(runner: Runner) -> str:
    """Everything the runner's logger wrote to its log file."""
    import logging
    for handler in runner.logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.flush()
            with open(handler.baseFilename, encoding='utf-8') as f:
                return f.read()
    return ''
