from .autocast_optim_wrapper import AutocastOptimWrapper
from .summary_optim_wrapper_constructor import SummaryOptimWrapperConstructor

__all__ = ['AutocastOptimWrapper', 'SummaryOptimWrapperConstructor']
