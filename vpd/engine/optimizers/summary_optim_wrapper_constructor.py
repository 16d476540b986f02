"""Parameter-wise optimizer settings, reported in one summary line."""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.utils.dl_utils import mmcv_full_available
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm, _InstanceNorm
from mmseg.engine.optimizers import ForceDefaultOptimWrapperConstructor
from torch.nn import GroupNorm, LayerNorm

from vpd.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SummaryOptimWrapperConstructor(ForceDefaultOptimWrapperConstructor):
    """mmseg's ``ForceDefaultOptimWrapperConstructor``, with one log line.

    The parameter groups are exactly those of mmseg 1.2.2's
    ``ForceDefaultOptimWrapperConstructor`` (``custom_keys`` by longest
    matching substring, ``bias_lr_mult``, ``bias_decay_mult``,
    ``norm_decay_mult``, ``dwconv_decay_mult``, ``flat_decay_mult``,
    ``dcn_offset_lr_mult``, ``bypass_duplicate``; with
    ``force_default_settings=True`` the bias / norm / 1-D rules also apply
    inside ``custom_keys``, with False they do not, as in mmengine's
    ``DefaultOptimWrapperConstructor``), except that a parameter with
    ``requires_grad=False`` is left out of the optimizer, as mmengine's
    default constructor does.

    What differs is the log. mmengine and mmseg log one line per parameter
    and setting (``paramwise_options -- backbone.unet...:lr=1e-05``, and
    ``... is skipped since its requires_grad=False``: hundreds of lines for
    a Stable Diffusion UNet). This constructor logs one summary instead,
    e.g.::

        Optimizer AdamW lr 0.001 weight_decay 0.1: backbone.unet lr x0.01:
        686 tensors (weight_decay x0: 386); others lr x1: 120 tensors
        (weight_decay x0: 64); frozen (not optimised): backbone.vae 248

    The rules are re-implemented here (``add_params``) because the parent
    classes print inside the loop that applies them; the code follows
    mmseg's ``force_default_constructor.py`` line by line.

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config (``type``,
            ``optimizer`` and wrapper arguments).
        paramwise_cfg (dict, optional): Parameter-wise options, as above.
            Defaults to None (one group, every trainable parameter).
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        if not self.paramwise_cfg:
            # (mmengine would pass model.parameters() unseen: go through
            # add_params to count them)
            self.paramwise_cfg = dict(custom_keys=dict())
        self._frozen: Dict[str, int] = OrderedDict()
        self._trainable: Dict[str, Dict[str, Union[float, int, dict]]] = \
            OrderedDict()

    def __call__(self, model: nn.Module) -> OptimWrapper:
        """Build the optimizer wrapper of ``model`` and log the summary.

        Args:
            model (nn.Module): The model (or its wrapper).

        Returns:
            OptimWrapper: The built wrapper.
        """
        self._frozen.clear()
        self._trainable.clear()
        optim_wrapper = super().__call__(model)
        optimizer = getattr(optim_wrapper, 'optimizer', None)
        if optimizer is not None:
            # mmengine hands torch its groups (one per tensor here) as
            # ConfigDicts, whose Python-level item access every step of
            # the optimizer pays ~10 times per group: plain dicts instead
            optimizer.param_groups[:] = [
                dict(g) if isinstance(g, ConfigDict) else g
                for g in optimizer.param_groups]
        print_log(self.summary(), logger='current', level=logging.INFO)
        return optim_wrapper

    def summary(self) -> str:
        """One line: the optimizer, then each rule's tensor count.

        Returns:
            str: The summary of the last :meth:`__call__`.
        """
        opt = self.optimizer_cfg
        head = f'Optimizer {opt.get("type")} lr {self.base_lr}'
        if self.base_wd is not None:
            head += f' weight_decay {self.base_wd}'
        parts = []
        for key, info in self._trainable.items():
            lrs = ', '.join(f'x{m:g}' for m in sorted(info['lr_mults']))
            text = f'{key} lr {lrs}: {info["count"]} tensors'
            decays = {m: n for m, n in info['decay_mults'].items() if m != 1}
            if decays:
                text += ' (' + ', '.join(
                    f'weight_decay x{m:g}: {n}'
                    for m, n in sorted(decays.items())) + ')'
            parts.append(text)
        if self._frozen:
            parts.append('frozen (not optimised): ' + ', '.join(
                f'{k} {n}' for k, n in self._frozen.items()))
        return head + ': ' + '; '.join(parts) if parts else head

    def _record(self, name: str, custom_key: Optional[str],
                group: dict) -> None:
        key = custom_key or 'others'
        info = self._trainable.setdefault(
            key, dict(count=0, lr_mults=set(), decay_mults={}))
        info['count'] += 1
        lr = group.get('lr', self.base_lr)
        if self.base_lr:
            info['lr_mults'].add(round(lr / self.base_lr, 8))
        if self.base_wd:
            wd = group.get('weight_decay', self.base_wd)
            mult = round(wd / self.base_wd, 8)
            info['decay_mults'][mult] = info['decay_mults'].get(mult, 0) + 1

    def _record_frozen(self, name: str, custom_key: Optional[str]) -> None:
        key = custom_key or '.'.join(name.split('.')[:2])
        self._frozen[key] = self._frozen.get(key, 0) + 1

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[Union[int, float]] = None) -> None:
        """Add the parameters of ``module`` to ``params``, by the rules.

        Args:
            params (list[dict]): Parameter groups, extended in place.
            module (nn.Module): The module whose parameters are added.
            prefix (str): The module's name in the model.
            is_dcn_module (int | float, optional): Set for the children of a
                deformable convolution (``dcn_offset_lr_mult``).
        """
        cfg = self.paramwise_cfg
        custom_keys = cfg.get('custom_keys', {})
        # longest key first, ties in alphabetical order (as mmengine)
        sorted_keys = sorted(sorted(custom_keys.keys()), key=len, reverse=True)
        bias_lr_mult = cfg.get('bias_lr_mult', None)
        bias_decay_mult = cfg.get('bias_decay_mult', None)
        norm_decay_mult = cfg.get('norm_decay_mult', None)
        dwconv_decay_mult = cfg.get('dwconv_decay_mult', None)
        flat_decay_mult = cfg.get('flat_decay_mult', None)
        bypass_duplicate = cfg.get('bypass_duplicate', False)
        dcn_offset_lr_mult = cfg.get('dcn_offset_lr_mult', None)
        force_default_settings = cfg.get('force_default_settings', False)

        is_norm = isinstance(module,
                             (_BatchNorm, _InstanceNorm, GroupNorm, LayerNorm))
        is_dwconv = (
            isinstance(module, torch.nn.Conv2d)
            and module.in_channels == module.groups)

        for name, param in module.named_parameters(recurse=False):
            full_name = f'{prefix}.{name}' if prefix else name
            param_group = {'params': [param]}
            custom_key = next(
                (k for k in sorted_keys if k in f'{prefix}.{name}'), None)
            if bypass_duplicate and self._is_in(param_group, params):
                continue
            if not param.requires_grad:
                self._record_frozen(full_name, custom_key)
                continue
            if custom_key is not None:
                spec = custom_keys[custom_key]
                param_group['lr'] = self.base_lr * spec.get('lr_mult', 1.)
                if self.base_wd is not None:
                    param_group['weight_decay'] = (
                        self.base_wd * spec.get('decay_mult', 1.))
                for k, v in spec.items():
                    param_group[k] = v
            if custom_key is None or force_default_settings:
                if name == 'bias' and not (
                        is_norm or is_dcn_module) and bias_lr_mult is not None:
                    param_group['lr'] = self.base_lr * bias_lr_mult
                if (prefix.find('conv_offset') != -1 and is_dcn_module
                        and dcn_offset_lr_mult is not None
                        and isinstance(module, torch.nn.Conv2d)):
                    param_group['lr'] = self.base_lr * dcn_offset_lr_mult
                if self.base_wd is not None:
                    if is_norm and norm_decay_mult is not None:
                        param_group[
                            'weight_decay'] = self.base_wd * norm_decay_mult
                    elif (name == 'bias' and not is_dcn_module
                          and bias_decay_mult is not None):
                        param_group[
                            'weight_decay'] = self.base_wd * bias_decay_mult
                    elif is_dwconv and dwconv_decay_mult is not None:
                        param_group[
                            'weight_decay'] = self.base_wd * dwconv_decay_mult
                    elif (param.ndim == 1 and not is_dcn_module
                          and flat_decay_mult is not None):
                        param_group[
                            'weight_decay'] = self.base_wd * flat_decay_mult
            params.append(param_group)
            self._record(full_name, custom_key, param_group)

        if mmcv_full_available():
            from mmcv.ops import DeformConv2d, ModulatedDeformConv2d
            is_dcn_module = isinstance(module,
                                       (DeformConv2d, ModulatedDeformConv2d))
        else:
            is_dcn_module = False
        for child_name, child_mod in module.named_children():
            child_prefix = f'{prefix}.{child_name}' if prefix else child_name
            self.add_params(
                params,
                child_mod,
                prefix=child_prefix,
                is_dcn_module=is_dcn_module)
