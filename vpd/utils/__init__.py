from .compat import (MMCVOpsUnavailableError, has_compiled_mmcv_ops,
                     install_mmcv_ext_placeholder)
from .set_env import register_all_modules

__all__ = ['install_mmcv_ext_placeholder', 'MMCVOpsUnavailableError',
           'has_compiled_mmcv_ops', 'register_all_modules']
