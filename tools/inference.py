"""Run a model on your own images and write pictures of the predictions.

::

    python tools/inference.py CONFIG CHECKPOINT IMG_OR_DIR --out-dir OUT \\
        [--device cpu] [--save-raw] [--opacity 0.5] [--cfg-options ...]

``CHECKPOINT`` is a checkpoint of this project (``.pth`` /
``.safetensors``), a released VPD / Meta Prompts / mmseg VPD checkpoint
(converted on the fly), a model-zoo name or a URL. ``IMG_OR_DIR`` is an
image or a folder of images (``.jpg .jpeg .png .bmp .tif .tiff .webp``).

Depth models write ``<name>_depth.png`` (colourised, near = bright) and,
with ``--save-raw``, ``<name>_depth_mm.png`` (16-bit PNG, millimetres).
Segmentors write ``<name>_seg.png`` (the image overlaid with the class
colours) and, with ``--save-raw``, ``<name>_seg_labels.png`` (class ids).
Pose models write ``<name>_pose.png`` (skeletons drawn) and one
``keypoints.json`` with the keypoints of all images in the COCO result
format; ``--bboxes FILE`` gives the person boxes (formats in
:mod:`vpd.apis.pose_inference`), else the whole image is one box.
The config's test pipeline is used without annotation loading and without
the KITTI benchmark crop (your images are used whole).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time
from typing import List, Optional

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    from vpd.utils.cli import CfgOptionsAction
    parser = argparse.ArgumentParser(
        description='Predict depth / segmentation for your own images.')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint',
                        help='checkpoint path, model-zoo name or URL')
    parser.add_argument('input', help='an image or a folder of images')
    parser.add_argument('--out-dir', required=True,
                        help='where the pictures are written')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--amp', nargs='?', const='auto', default=None,
                        choices=['auto', 'bf16', 'fp16'],
                        help='mixed-precision inference (bf16 on CPU / '
                        'CUDA, fp16 on CUDA); see vpd/engine/precision.py')
    parser.add_argument('--save-raw', action='store_true',
                        help='also write raw predictions (16-bit depth in '
                        'mm / label ids)')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='segmentation overlay opacity (default 0.5)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings')
    parser.add_argument('--bboxes',
                        help='pose models: JSON file of person boxes '
                        '(default: the whole image is one box)')
    return parser.parse_args(argv)


def list_images(path: str) -> List[str]:
    """The image files named by ``path`` (a file or a folder), sorted.

    Args:
        path (str): An image or a folder.

    Returns:
        list[str]: Image paths.
    """
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'Input "{path}" does not exist')
    found = sorted(
        osp.join(path, name) for name in os.listdir(path)
        if name.lower().endswith(IMAGE_EXTENSIONS))
    if not found:
        raise FileNotFoundError(
            f'No images ({", ".join(IMAGE_EXTENSIONS)}) in folder "{path}"')
    return found


def _write_png_atomic(path: str, array: np.ndarray) -> None:
    """Write a single-channel PNG (uint8 / uint16) atomically."""
    import cv2

    from vpd.utils.checkpoint import atomic_write_bytes
    ok, buf = cv2.imencode('.png', array)
    if not ok:
        raise IOError(f'Could not encode "{path}"')
    atomic_write_bytes(buf.tobytes(), path)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        int: Exit status (0 on success).
    """
    args = parse_args(argv)
    import cv2

    from vpd.apis import autocast_inference, inference_model, init_model
    from vpd.models.estimators import DiffusionDepthEstimator
    from vpd.visualization import (colorize_depth, default_palette,
                                   overlay_segmentation, write_image_atomic)

    images = list_images(args.input)
    print(f'[inference] building {args.config} with {args.checkpoint}',
          flush=True)
    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    is_depth = isinstance(model, DiffusionDepthEstimator)
    meta = getattr(model, 'dataset_meta', None) or {}
    os.makedirs(args.out_dir, exist_ok=True)
    from vpd.models.estimators import DiffusionPoseEstimator
    if isinstance(model, DiffusionPoseEstimator):
        return run_pose(args, model, images)
    if args.bboxes:
        raise ValueError('--bboxes is for pose models only')
    for i, path in enumerate(images, start=1):
        t0 = time.time()
        with autocast_inference(args.amp, args.device):
            sample = inference_model(model, path)
        stem = osp.splitext(osp.basename(path))[0]
        if is_depth:
            depth = sample.pred_depth_map.data[0].float().cpu().numpy()
            out = osp.join(args.out_dir, f'{stem}_depth.png')
            write_image_atomic(out, colorize_depth(depth))
            if args.save_raw:
                mm = np.clip(depth * 1000.0, 0, 65535).round()
                _write_png_atomic(
                    osp.join(args.out_dir, f'{stem}_depth_mm.png'),
                    mm.astype(np.uint16))
            info = f'depth {depth.min():.2f}..{depth.max():.2f} m'
        else:
            labels = sample.pred_sem_seg.data[0].cpu().numpy()
            num_classes = int(sample.seg_logits.data.shape[0])
            palette = meta.get('palette') or default_palette(num_classes)
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            if bgr is None:
                raise IOError(f'Could not read image "{path}"')
            rgb = bgr[..., ::-1]
            if rgb.shape[:2] != labels.shape:
                rgb = cv2.resize(rgb, labels.shape[::-1])
            out = osp.join(args.out_dir, f'{stem}_seg.png')
            write_image_atomic(out, overlay_segmentation(
                rgb, labels, palette, args.opacity))
            if args.save_raw:
                _write_png_atomic(
                    osp.join(args.out_dir, f'{stem}_seg_labels.png'),
                    labels.astype(np.uint16 if num_classes > 255 else
                                  np.uint8))
            info = f'{len(np.unique(labels))} classes present'
        print(f'[inference] {i}/{len(images)} {path} -> {out} ({info}, '
              f'{time.time() - t0:.1f} s)', flush=True)
    return 0


def run_pose(args: argparse.Namespace, model, images: List[str]) -> int:
    """Pose models: draw skeletons, write ``keypoints.json`` (COCO)."""
    import json

    import mmcv

    from vpd.apis import inference_model, load_bboxes_file
    from vpd.utils.checkpoint import atomic_write_bytes
    from vpd.visualization import draw_pose_skeletons, write_image_atomic
    boxes = load_bboxes_file(args.bboxes, images) if args.bboxes else {}
    skeleton = (getattr(model, 'dataset_meta', None) or {}).get(
        'skeleton_links')
    results = []
    for i, path in enumerate(images, start=1):
        t0 = time.time()
        dets = boxes.get(path, np.zeros((0, 5), np.float32)) \
            if args.bboxes else None
        poses = inference_model(model, path, bboxes=dets)
        results += poses
        kpts = np.array([p['keypoints'] for p in poses],
                        np.float32).reshape(len(poses), -1, 3) if poses \
            else np.zeros((0, 1, 3), np.float32)
        xywh = np.array([p['bbox'] for p in poses]).reshape(-1, 4)
        out = osp.join(args.out_dir,
                       f'{osp.splitext(osp.basename(path))[0]}_pose.png')
        write_image_atomic(out, draw_pose_skeletons(
            mmcv.imread(path, channel_order='rgb'), kpts[..., :2],
            kpts[..., 2], skeleton, bboxes=np.hstack(
                [xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])))
        print(f'[inference] {i}/{len(images)} {path} -> {out} '
              f'({len(poses)} poses, {time.time() - t0:.1f} s)', flush=True)
    json_path = osp.join(args.out_dir, 'keypoints.json')
    atomic_write_bytes(json.dumps(results).encode('utf-8'), json_path)
    print(f'[inference] keypoints of {len(results)} persons -> {json_path}')
    return 0


if __name__ == '__main__':
    from vpd.utils.cli import run_tool
    run_tool(main)
