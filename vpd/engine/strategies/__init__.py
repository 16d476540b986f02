from .param_group_fsdp_strategy import ParamGroupFSDPStrategy

__all__ = ['ParamGroupFSDPStrategy']
