"""Converters between released checkpoints and this project's models.

See :mod:`vpd.models.converters.official` and
``tools/model_converters/official_to_vpd.py``.
"""
from .official import (FAMILIES, SOURCE_FORMATS, ConversionError,
                       ConversionResult, SourceFormat, convert_checkpoint,
                       detect_source, load_converted, resolve_source,
                       to_official, unwrap_checkpoint)

__all__ = [
    'SOURCE_FORMATS', 'FAMILIES', 'SourceFormat', 'ConversionError',
    'ConversionResult', 'convert_checkpoint', 'detect_source',
    'resolve_source', 'to_official', 'unwrap_checkpoint', 'load_converted'
]
