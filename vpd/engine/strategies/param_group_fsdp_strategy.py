"""mmengine's FSDP strategy with the optimizer's parameter groups decided on
the unsharded model."""
from typing import Union

import torch
import torch.nn as nn
from mmengine._strategy import FSDPStrategy
from mmengine.optim import BaseOptimWrapper, build_optim_wrapper
from mmengine.registry import STRATEGIES


def rebuild_on_shards(optimizer: torch.optim.Optimizer, id_to_name: dict,
                      model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer's parameter groups (and settings) on the FSDP-wrapped
    ``model``'s parameters of the same names.

    Args:
        optimizer (Optimizer): Built on the unsharded model, no state yet.
        id_to_name (dict): ``id(parameter) -> name`` of the unsharded model.
        model (nn.Module): The FSDP-wrapped model (``use_orig_params``).

    Returns:
        Optimizer: A new optimizer of the same class.

    Raises:
        RuntimeError: A parameter name is not found in the wrapped model.
    """
    sharded = {
        n.replace('_fsdp_wrapped_module.', ''): p
        for n, p in model.named_parameters()
    }
    groups = []
    for group in optimizer.param_groups:
        new = {k: v for k, v in group.items() if k != 'params'}
        names = [id_to_name[id(p)] for p in group['params']]
        missing = [n for n in names if n not in sharded]
        if missing:
            raise RuntimeError(
                f'FSDP: parameters {missing[:3]} of the optimizer are not in '
                'the sharded model (is use_orig_params=True?)')
        new['params'] = [sharded[n] for n in names]
        groups.append(new)
    return type(optimizer)(groups)


@STRATEGIES.register_module()
class ParamGroupFSDPStrategy(FSDPStrategy):
    """:class:`mmengine._strategy.FSDPStrategy` that builds the optimizer
    wrapper from the config on the model *before* it is sharded.

    With ``use_orig_params=True`` FSDP replaces every original parameter
    by a flat 1-D view of this rank's shard. mmengine's optimizer
    constructors decide weight decay and learning-rate multipliers from the
    parameters they see (mmseg's ``flat_decay_mult`` and mmengine's
    ``bias_decay_mult`` / ``norm_decay_mult`` rules; the VPD depth recipe
    sets no decay on 1-D parameters), so a wrapper built after sharding
    would take every sharded weight matrix for a 1-D parameter and drop its
    weight decay. Here the wrapper is built on the full model while it is
    still unwrapped and then handed to ``FSDPStrategy.build_optim_wrapper``,
    whose path for an already-built wrapper re-creates the optimizer on the
    sharded parameters group by group, by parameter name.

    Takes the arguments of :class:`FSDPStrategy`.
    """

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        pending = getattr(self, '_pending_optim_cfg', None)
        if pending is not None:
            self._prebuilt_optim = build_optim_wrapper(model, pending)
            self._pending_optim_cfg = None
        return super()._wrap_model(model)

    def prepare(self, model, *, optim_wrapper=None, **kwargs):
        """As :meth:`FSDPStrategy.prepare`; a config ``optim_wrapper`` is
        built on the unsharded model."""
        if isinstance(optim_wrapper, dict) and not self._prepared:
            self._pending_optim_cfg = optim_wrapper
        return super().prepare(model, optim_wrapper=optim_wrapper, **kwargs)

    def build_optim_wrapper(self, optim_wrapper: Union[dict,
                                                       BaseOptimWrapper],
                            model: nn.Module = None) -> BaseOptimWrapper:
        """Move the wrapper built before wrapping onto the shards.

        Each parameter group keeps its settings (lr, weight decay, ...) and
        gets the sharded parameters of the same names. (mmengine's own
        re-creation passes ``optimizer.defaults`` back to the constructor,
        which AdamW of current PyTorch refuses.)
        """
        prebuilt = getattr(self, '_prebuilt_optim', None)
        if not (isinstance(optim_wrapper, dict) and prebuilt is not None):
            return super().build_optim_wrapper(optim_wrapper, model)
        self._prebuilt_optim = None
        prebuilt.optimizer = rebuild_on_shards(prebuilt.optimizer,
                                               self.id_to_name, model)
        return prebuilt
