"""Converters between released checkpoints and this project's models.

See :mod:`vpd.models.converters.official` and
``tools/model_converters/official_to_vpd.py``.
"""
from .checkpoint_config import (MODEL_CONFIG_KEY, CheckpointConfigWarning,
                                fit_config_to_checkpoint,
                                infer_checkpoint_arch, model_config_from_meta,
                                model_config_to_meta)
from .official import (FAMILIES, SOURCE_FORMATS, ConversionError,
                       ConversionResult, SourceFormat, convert_checkpoint,
                       detect_source, load_converted, resolve_source,
                       to_official, unwrap_checkpoint)

__all__ = [
    'SOURCE_FORMATS', 'FAMILIES', 'SourceFormat', 'ConversionError',
    'ConversionResult', 'convert_checkpoint', 'detect_source',
    'resolve_source', 'to_official', 'unwrap_checkpoint', 'load_converted',
    'MODEL_CONFIG_KEY', 'CheckpointConfigWarning', 'fit_config_to_checkpoint',
    'infer_checkpoint_arch', 'model_config_from_meta', 'model_config_to_meta'
]
