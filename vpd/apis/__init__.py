"""High-level entry points: build a model from a config and a checkpoint,
and run it on your own images."""
from vpd.engine.precision import autocast_inference

from .config_paths import resolve_config_paths
from .inference import (build_inference_pipeline, dataset_meta_from_config,
                        inference_depth, inference_model, init_model,
                        load_model_weights, prepare_config_for_checkpoint)
from .pose_inference import inference_pose, load_bboxes_file

__all__ = [
    'init_model', 'inference_model', 'inference_depth', 'load_model_weights',
    'prepare_config_for_checkpoint', 'dataset_meta_from_config',
    'build_inference_pipeline', 'resolve_config_paths', 'autocast_inference',
    'inference_pose', 'load_bboxes_file'
]
