"""A config is fitted to the checkpoint it loads (stored model config)."""
import json
import warnings

import pytest
import torch
from mmengine.config import Config

from vpd.models.converters import (MODEL_CONFIG_KEY, CheckpointConfigWarning,
                                   fit_config_to_checkpoint,
                                   model_config_from_meta,
                                   model_config_to_meta)
from vpd.utils.checkpoint import save_checkpoint_atomic


def _model(**backbone):
    return dict(
        type='DiffusionDepthEstimator',
        backbone=dict(type='StableDiffusionBackbone',
                      unet=dict(preset='tiny'), vae='tiny', num_loops=1,
                      **backbone),
        conditioner=dict(type='MetaPromptConditioner', num_loops=1),
        neck=dict(type='MetaPromptDepthNeck'),
        decode_head=dict(type='VPDDepthHead'),
        test_cfg=dict(flip=False, shift_windows=1))


@pytest.mark.parametrize('ext', ['pth', 'safetensors'])
def test_stored_model_config_wins_runtime_options_stay(tmp_path, ext):
    stored = _model()
    stored['backbone'].update(num_loops=3,
                              unet=dict(preset='tiny', cross_attention_dim=48))
    stored['conditioner']['num_loops'] = 3
    text = model_config_to_meta(stored)
    path = str(tmp_path / f'converted.{ext}')
    if ext == 'pth':
        torch.save({'meta': {MODEL_CONFIG_KEY: text},
                    'state_dict': {'x': torch.zeros(1)}}, path)
    else:
        save_checkpoint_atomic({'x': torch.zeros(1)}, path,
                               metadata={MODEL_CONFIG_KEY: text})
    cfg = Config(dict(model=_model(dtype='bfloat16')))
    cfg.model.test_cfg = dict(flip=True, shift_windows=2)
    with pytest.warns(CheckpointConfigWarning) as record:
        changes = fit_config_to_checkpoint(cfg, path)
    message = str(record[0].message)
    assert 'model.backbone.num_loops: 1 -> 3' in message
    assert 'model.backbone.unet.cross_attention_dim: 32 -> 48' in message
    assert len(changes) == 3  # loops x2, cross-attention width
    assert cfg.model.backbone.num_loops == cfg.model.conditioner.num_loops == 3
    assert cfg.model.backbone.unet.cross_attention_dim == 48
    assert cfg.model.backbone.dtype == 'bfloat16'  # run-time, kept
    assert cfg.model.test_cfg == dict(flip=True, shift_windows=2)

    # the same config again: nothing to change, no warning
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert fit_config_to_checkpoint(cfg, path) == []


def test_preset_name_equals_its_dict_and_bad_meta(tmp_path):
    path = str(tmp_path / 'c.pth')
    torch.save({'meta': {MODEL_CONFIG_KEY: model_config_to_meta(_model())},
                'state_dict': {}}, path)
    cfg = Config(dict(model=_model()))
    cfg.model.backbone.unet = 'tiny'  # the preset by name
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert fit_config_to_checkpoint(cfg, path) == []
    assert model_config_from_meta({}) is None
    with pytest.raises(ValueError, match='not valid JSON'):
        model_config_from_meta({MODEL_CONFIG_KEY: '{oops'})
    with pytest.raises(ValueError, match='not a model config'):
        model_config_from_meta({MODEL_CONFIG_KEY: json.dumps([1])})
