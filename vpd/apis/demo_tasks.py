"""What the demo page (``tools/demo.py``) shows for each task.

The page is built from a table, :data:`DEMO_TASKS`: one :class:`DemoTask`
per task, each saying which model it serves, which inputs it needs besides
the image (a sentence for referring segmentation, a field of view for the
depth point cloud) and which outputs it returns (pictures, files, text).
``tools/demo.py`` lays out one Gradio component per input and output; the
tasks themselves never import Gradio, so they are tested (and usable) as
plain functions. A new task (referring segmentation: a sentence box and a
mask overlay; pose: a skeleton image) adds one subclass and one table row::

    class ReferringDemoTask(DemoTask):
        name = 'referring'
        inputs = (DemoField('text', 'Sentence', 'the man on the left'),)
        outputs = (DemoField('image', 'Mask'), DemoField('text', 'Summary'))
        def matches(self, model): ...
        def predict(self, model, image_path, out_dir, sentence): ...

    DEMO_TASKS['referring'] = ReferringDemoTask()
"""
from __future__ import annotations

import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch.nn as nn

__all__ = ['DemoField', 'DemoTask', 'DepthDemoTask', 'SegDemoTask',
           'DEMO_TASKS', 'find_demo_task', 'new_request_dir']


@dataclass(frozen=True)
class DemoField:
    """One input or output of a task on the demo page.

    Args:
        kind (str): ``'image'`` (an RGB uint8 array), ``'file'`` (a path,
            offered for download), ``'text'`` or, for inputs, ``'slider'``
            (a number in ``[minimum, maximum]``).
        label (str): What the page calls it.
        default (Any): The initial value of an input. Defaults to None.
        minimum (float): Slider minimum. Defaults to 0.
        maximum (float): Slider maximum. Defaults to 1.
    """

    kind: str
    label: str
    default: Any = None
    minimum: float = 0.0
    maximum: float = 1.0


class DemoTask:
    """A task of the demo page: its extra inputs, outputs and predictor.

    Subclasses set the class attributes :attr:`name`, :attr:`inputs` (the
    fields besides the image, passed to :meth:`predict` in order) and
    :attr:`outputs`, and implement :meth:`matches` and :meth:`predict`.
    """

    name: str = ''
    inputs: Tuple[DemoField, ...] = ()
    outputs: Tuple[DemoField, ...] = ()

    def matches(self, model: nn.Module) -> bool:
        """Whether this task serves ``model``."""
        raise NotImplementedError(
            f'{type(self).__name__} must say which models it serves')

    def predict(self, model: nn.Module, image_path: str, out_dir: str,
                *extra: Any) -> List[Any]:
        """Run ``model`` on one image.

        Args:
            model (nn.Module): From :func:`vpd.apis.init_model`.
            image_path (str): The uploaded image.
            out_dir (str): A fresh folder for the files of this request.
            *extra: One value per :attr:`inputs` entry.

        Returns:
            list: One value per :attr:`outputs` entry (arrays for images,
            paths for files, str for text).
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement predict')


def _read_rgb(image_path: str) -> np.ndarray:
    import cv2
    bgr = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'Could not read "{osp.basename(image_path)}" as '
                         'an image (expected a PNG, JPEG, BMP, TIFF or WebP '
                         'file)')
    return bgr[..., ::-1].copy()


def _stem(image_path: str) -> str:
    return osp.splitext(osp.basename(image_path))[0] or 'image'


def _write_png_atomic(path: str, array: np.ndarray) -> None:
    import cv2

    from vpd.utils.checkpoint import atomic_write_bytes
    ok, buf = cv2.imencode('.png', array)
    if not ok:
        raise IOError(f'Could not encode "{path}" as PNG')
    atomic_write_bytes(buf.tobytes(), path)


class DepthDemoTask(DemoTask):
    """Depth: a colour map with a colour bar in metres, a 16-bit PNG
    (millimetres, 0 = no depth) and a coloured point cloud (PLY, metres,
    OpenCV camera axes), back-projected with a pinhole camera of the given
    horizontal field of view (:func:`vpd.visualization.intrinsics_from_fov`;
    the image's real camera is unknown)."""

    name = 'depth'
    inputs = (DemoField('slider', 'Horizontal field of view (degrees, for '
                        'the point cloud)', 60.0, 20.0, 120.0), )
    outputs = (DemoField('image', 'Depth (metres)'),
               DemoField('file', '16-bit depth PNG (millimetres)'),
               DemoField('file', 'Point cloud (PLY)'),
               DemoField('text', 'Summary'))

    def matches(self, model: nn.Module) -> bool:
        """Depth models: :class:`DiffusionDepthEstimator`."""
        from vpd.models.estimators import DiffusionDepthEstimator
        return isinstance(model, DiffusionDepthEstimator)

    def predict(self, model: nn.Module, image_path: str, out_dir: str,
                fov_deg: float = 60.0) -> List[Any]:
        """Depth of one image; see the class docstring for the outputs."""
        from vpd.apis import inference_model
        from vpd.visualization import (colorize_depth_with_colorbar,
                                       depth_to_points, intrinsics_from_fov,
                                       write_ply)
        t0 = time.time()
        rgb = _read_rgb(image_path)
        sample = inference_model(model, np.ascontiguousarray(rgb[..., ::-1]))
        depth = sample.pred_depth_map.data[0].float().cpu().numpy()
        stem = _stem(image_path)
        png = osp.join(out_dir, f'{stem}_depth_mm.png')
        _write_png_atomic(
            png, np.clip(depth * 1000.0, 0, 65535).round().astype(np.uint16))
        h, w = depth.shape
        if rgb.shape[:2] != (h, w):
            import cv2
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        points, colors = depth_to_points(
            depth, intrinsics_from_fov(w, h, float(fov_deg)), rgb)
        ply = osp.join(out_dir, f'{stem}.ply')
        write_ply(ply, points, colors)
        summary = (f'{w}x{h} px, depth {depth.min():.2f} to '
                   f'{depth.max():.2f} m, {len(points)} points, '
                   f'{time.time() - t0:.1f} s')
        return [colorize_depth_with_colorbar(depth), png, ply, summary]


class SegDemoTask(DemoTask):
    """Semantic segmentation: the classes drawn over the image and a label
    PNG (class ids)."""

    name = 'seg'
    inputs = (DemoField('slider', 'Overlay opacity', 0.5, 0.0, 1.0), )
    outputs = (DemoField('image', 'Segmentation'),
               DemoField('file', 'Label PNG (class ids)'),
               DemoField('text', 'Summary'))

    def matches(self, model: nn.Module) -> bool:
        """Segmentation models: :class:`DiffusionSegmentor`."""
        from vpd.models.segmentors import DiffusionSegmentor
        return isinstance(model, DiffusionSegmentor)

    def predict(self, model: nn.Module, image_path: str, out_dir: str,
                opacity: float = 0.5) -> List[Any]:
        """Classes of one image; see the class docstring for the outputs."""
        from vpd.apis import inference_model
        from vpd.visualization import default_palette, overlay_segmentation
        t0 = time.time()
        rgb = _read_rgb(image_path)
        sample = inference_model(model, np.ascontiguousarray(rgb[..., ::-1]))
        labels = sample.pred_sem_seg.data[0].cpu().numpy()
        num_classes = int(sample.seg_logits.data.shape[0])
        meta = getattr(model, 'dataset_meta', None) or {}
        palette = meta.get('palette')
        if palette is None or len(palette) < num_classes:
            palette = default_palette(num_classes)
        if rgb.shape[:2] != labels.shape:
            import cv2
            rgb = cv2.resize(rgb, labels.shape[::-1])
        png = osp.join(out_dir, f'{_stem(image_path)}_labels.png')
        _write_png_atomic(png, labels.astype(
            np.uint16 if num_classes > 255 else np.uint8))
        classes = meta.get('classes') or [str(i) for i in range(num_classes)]
        ids, counts = np.unique(labels, return_counts=True)
        present = ', '.join(
            f'{classes[i] if i < len(classes) else i} '
            f'{100 * c / labels.size:.0f}%'
            for i, c in sorted(zip(ids, counts), key=lambda t: -t[1]))
        summary = (f'{labels.shape[1]}x{labels.shape[0]} px: {present} '
                   f'({time.time() - t0:.1f} s)')
        return [overlay_segmentation(rgb, labels, palette, float(opacity)),
                png, summary]


#: Task name -> task, in the order they are tried by :func:`find_demo_task`.
DEMO_TASKS: Dict[str, DemoTask] = {
    'depth': DepthDemoTask(),
    'seg': SegDemoTask(),
}


def find_demo_task(model: nn.Module,
                   tasks: Optional[Dict[str, DemoTask]] = None) -> DemoTask:
    """The demo task that serves ``model``.

    Args:
        model (nn.Module): From :func:`vpd.apis.init_model`.
        tasks (dict, optional): The table; defaults to :data:`DEMO_TASKS`.

    Returns:
        DemoTask: The first task whose :meth:`DemoTask.matches` is true.

    Raises:
        TypeError: No task serves this kind of model.
    """
    tasks = DEMO_TASKS if tasks is None else tasks
    for task in tasks.values():
        if task.matches(model):
            return task
    raise TypeError(f'The demo has no task for a {type(model).__name__}; '
                    f'known tasks: {", ".join(tasks)} (vpd/apis/'
                    'demo_tasks.py, DEMO_TASKS)')


def new_request_dir(root: str) -> str:
    """A fresh folder under ``root`` for one request's files."""
    import tempfile
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix='request-', dir=root)
