"""Run a model on your own images and write pictures of the predictions.

::

    python tools/inference.py CONFIG CHECKPOINT IMG_OR_DIR --out-dir OUT \\
        [--device cpu] [--save-raw [--raw-format auto|png-mm|png-x256|
        tiff|npy]]
        [--save-ply [--intrinsics nyu|kitti|fov:60|FX,FY,CX,CY]]
        [--vmin M --vmax M] [--class-name kitchen] [--opacity 0.5]
        [--cfg-options ...]

``CHECKPOINT`` is a checkpoint of this project (``.pth`` /
``.safetensors``), a released VPD / Meta Prompts / mmseg VPD checkpoint
(converted on the fly), a model-zoo name or a URL. ``IMG_OR_DIR`` is an
image or a folder of images (``.jpg .jpeg .png .bmp .tif .tiff .webp``;
grey, 16-bit and RGBA files too: see :mod:`vpd.apis.inputs`).

Outputs are named after the input (``OUT/<name>...``); two inputs with the
same stem never overwrite each other (``a.jpg`` -> ``a_depth.png``,
``a.png`` -> ``a_png_depth.png``: :func:`vpd.visualization.
unique_output_path`). Depth models write ``<name>_depth.png`` (colourised,
near = bright, with a colour bar in metres, ``--no-colorbar`` without;
``--vmin/--vmax`` fix its range so that images are comparable); with
``--save-raw`` the depth values
(:mod:`vpd.visualization.raw_depth`: millimetre 16-bit PNG when the
model's ``max_depth`` fits in 65.535 m, else KITTI's metres x 256 PNG;
``--raw-format tiff`` / ``npy`` for float32 metres; a sidecar ``.json``
states unit and scale); with ``--save-ply`` a coloured point cloud
``<name>.ply`` (metres, OpenCV camera axes) back-projected with
``--intrinsics`` (default: NYU's Kinect or KITTI's camera after the
config's dataset, scaled to the image size). VPD depth models pick a class
embedding from the image path (NYU scene names); ``--class-name`` chooses
it, else the mean embedding is used (logged).
Segmentors write ``<name>_seg.png`` (the image overlaid with the class
colours) and, with ``--save-raw``, ``<name>_seg_labels.png`` (class ids).
Pose models write ``<name>_pose.png`` (skeletons drawn) and one
``keypoints.json`` with the keypoints of all images in the COCO result
format; ``--bboxes FILE`` gives the person boxes (formats in
:mod:`vpd.apis.pose_inference`), else the whole image is one box.
Referring-segmentation models need ``--text "the dog on the left"`` (repeat
it for several sentences) and write, for the i-th sentence,
``<name>_refer<i>.png`` (the object tinted and outlined) and
``<name>_refer<i>_mask.png`` (binary mask, 0 / 255).
The config's test pipeline is used without annotation loading and without
the KITTI benchmark crop (your images are used whole).

An image that cannot be read or predicted is skipped with a warning; the
final line counts the images written and skipped, and the exit status is 1
when any was skipped.
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
                        help='also write raw predictions (depth values, '
                        'see --raw-format / label ids)')
    parser.add_argument('--raw-format', default='auto',
                        choices=['auto', 'png-mm', 'png-x256', 'tiff',
                                 'npy'],
                        help='depth file of --save-raw: auto (mm PNG if '
                        'max_depth <= 65.535 m, else metres x 256 PNG), '
                        'png-mm, png-x256 (KITTI), tiff / npy (float32 m)')
    parser.add_argument('--save-ply', action='store_true',
                        help='depth models: also write a coloured point '
                        'cloud <name>.ply (metres)')
    parser.add_argument('--intrinsics',
                        help='camera of --save-ply: nyu, kitti (scaled to '
                        'the image size), fov:<degrees> or FX,FY,CX,CY in '
                        'pixels (default: after the config\'s dataset)')
    parser.add_argument('--no-colorbar', action='store_true',
                        help='depth pictures without the colour bar (the '
                        'image size of the input)')
    parser.add_argument('--vmin', type=float,
                        help='depth (m) of the first colour (default: the '
                        'image\'s minimum)')
    parser.add_argument('--vmax', type=float,
                        help='depth (m) of the last colour (default: the '
                        'image\'s maximum)')
    parser.add_argument('--class-name',
                        help='VPD depth models: the scene class whose '
                        'embedding is used (e.g. kitchen), instead of the '
                        'one named in the image path')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='segmentation overlay opacity (default 0.5)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings')
    parser.add_argument('--bboxes',
                        help='pose models: JSON file of person boxes '
                        '(default: the whole image is one box)')
    parser.add_argument('--text', action='append',
                        help='referring segmentation: the sentence '
                        'describing the object (repeat for several)')
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
    from vpd.apis import init_model
    from vpd.models.estimators import DiffusionDepthEstimator

    images = list_images(args.input)
    print(f'[inference] building {args.config} with {args.checkpoint}',
          flush=True)
    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    is_depth = isinstance(model, DiffusionDepthEstimator)
    meta = getattr(model, 'dataset_meta', None) or {}
    os.makedirs(args.out_dir, exist_ok=True)
    # --- referring segmentation: one mask per sentence --------------------
    from vpd.apis.referring_inference import is_referring_model
    if is_referring_model(model) or args.text:
        return run_referring(model, images, args)
    # -----------------------------------------------------------------------
    from vpd.models.estimators import DiffusionPoseEstimator
    if isinstance(model, DiffusionPoseEstimator):
        return run_pose(args, model, images)
    if args.bboxes:
        raise ValueError('--bboxes is for pose models only')
    return run_dense(args, model, images, is_depth, meta)


def _report(done: int, failed: List[str], out_dir: str) -> int:
    """Print the final summary line; the exit status (1 if any failed)."""
    line = f'[inference] done: {done} image(s) written to {out_dir}'
    if failed:
        line += (f', {len(failed)} skipped: ' + ', '.join(failed[:10])
                 + (' ...' if len(failed) > 10 else ''))
    print(line, flush=True)
    return 1 if failed else 0


def _skip(path: str, exc: BaseException, failed: List[str]) -> None:
    """Warn about an image that could not be processed and count it."""
    failed.append(path)
    print(f'[inference] warning: skipped {path}: '
          f'{type(exc).__name__}: {exc}', file=sys.stderr, flush=True)


def default_camera(cfg) -> str:
    """``'kitti'`` for KITTI configs, else ``'nyu'`` (for ``--save-ply``)."""
    try:
        kind = str(cfg.test_dataloader.dataset.get('type', ''))
    except AttributeError:
        kind = ''
    return 'kitti' if 'kitti' in kind.lower() else 'nyu'


def parse_intrinsics(value: str):
    """``--intrinsics``: a camera name, ``fov:<deg>`` or four numbers."""
    parts = value.replace(',', ' ').split()
    if len(parts) == 4:
        try:
            return [float(v) for v in parts]
        except ValueError:
            pass
    if len(parts) == 1:
        return parts[0]
    raise ValueError(f'--intrinsics: expected nyu, kitti, fov:<degrees> or '
                     f'FX,FY,CX,CY, got "{value}"')


def run_dense(args: argparse.Namespace, model, images: List[str],
              is_depth: bool, meta: dict) -> int:
    """Depth and segmentation models: pictures (and raw files) per image."""
    from vpd.apis import autocast_inference, inference_model
    from vpd.apis.inputs import load_image
    from vpd.visualization import (camera_intrinsics, colorize_depth,
                                   colorize_depth_with_colorbar,
                                   default_palette, depth_to_points,
                                   overlay_segmentation, unique_output_path,
                                   write_image_atomic, write_ply,
                                   write_raw_depth)
    if not is_depth:
        for flag in ('save_ply', 'class_name', 'vmin', 'vmax',
                     'intrinsics', 'no_colorbar'):
            if getattr(args, flag) not in (None, False):
                raise ValueError(f'--{flag.replace("_", "-")} is for depth '
                                 'models')
    if args.class_name is not None:  # a wrong name fails before any image
        from vpd.apis.inputs import class_index
        names = getattr(getattr(model, 'conditioner', None), 'class_names',
                        None)
        if not names or model.conditioner.mode != 'per_image':
            raise ValueError(f'--class-name is for depth models with one '
                             f'class embedding per image (VPD depth); '
                             f'{args.config} has none')
        class_index(names, args.class_name)
    camera = parse_intrinsics(args.intrinsics) if args.intrinsics else \
        default_camera(model.cfg)
    max_depth = getattr(getattr(model, 'decode_head', None), 'max_depth',
                        None)
    taken: dict = {}
    failed: List[str] = []
    done = 0
    for i, path in enumerate(images, start=1):
        t0 = time.time()
        try:
            rgb = load_image(path)[..., ::-1]
            with autocast_inference(args.amp, args.device):
                sample = inference_model(
                    model, path,
                    class_name=args.class_name if is_depth else None)
        except Exception as e:  # noqa: BLE001 - skip it, report at the end
            _skip(path, e, failed)
            continue
        base = unique_output_path(args.out_dir, path, taken, suffix='')
        if is_depth:
            depth = sample.pred_depth_map.data[0].float().cpu().numpy()
            out = f'{base}_depth.png'
            write_image_atomic(out, colorize_depth(
                depth, args.vmin, args.vmax) if args.no_colorbar else
                colorize_depth_with_colorbar(depth, args.vmin, args.vmax))
            info = f'depth {depth.min():.2f}..{depth.max():.2f} m'
            if args.save_raw:
                raw = write_raw_depth(base, depth, args.raw_format,
                                      max_depth)
                info += f', raw {osp.basename(raw)}'
            if args.save_ply:
                h, w = depth.shape
                points, colors = depth_to_points(
                    depth, camera_intrinsics(camera, w, h), rgb)
                write_ply(f'{base}.ply', points, colors)
                info += f', {len(points)} points'
        else:
            labels = sample.pred_sem_seg.data[0].cpu().numpy()
            num_classes = int(sample.seg_logits.data.shape[0])
            palette = meta.get('palette') or default_palette(num_classes)
            out = f'{base}_seg.png'
            write_image_atomic(out, overlay_segmentation(
                np.ascontiguousarray(rgb), labels, palette, args.opacity))
            if args.save_raw:
                _write_png_atomic(
                    f'{base}_seg_labels.png',
                    labels.astype(np.uint16 if num_classes > 255 else
                                  np.uint8))
            info = f'{len(np.unique(labels))} classes present'
        done += 1
        print(f'[inference] {i}/{len(images)} {path} -> {out} ({info}, '
              f'{time.time() - t0:.1f} s)', flush=True)
    return _report(done, failed, args.out_dir)


def run_pose(args: argparse.Namespace, model, images: List[str]) -> int:
    """Pose models: draw skeletons, write ``keypoints.json`` (COCO)."""
    import json

    from vpd.apis import inference_model, load_bboxes_file
    from vpd.apis.inputs import load_image
    from vpd.utils.checkpoint import atomic_write_bytes
    from vpd.visualization import (draw_pose_skeletons, unique_output_path,
                                   write_image_atomic)
    boxes = load_bboxes_file(args.bboxes, images) if args.bboxes else {}
    skeleton = (getattr(model, 'dataset_meta', None) or {}).get(
        'skeleton_links')
    results = []
    taken: dict = {}
    failed: List[str] = []
    for i, path in enumerate(images, start=1):
        t0 = time.time()
        dets = boxes.get(path, np.zeros((0, 5), np.float32)) \
            if args.bboxes else None
        try:
            rgb = load_image(path)[..., ::-1]
            poses = inference_model(model, path, bboxes=dets)
        except Exception as e:  # noqa: BLE001 - skip it, report at the end
            _skip(path, e, failed)
            continue
        results += poses
        kpts = np.array([p['keypoints'] for p in poses],
                        np.float32).reshape(len(poses), -1, 3) if poses \
            else np.zeros((0, 1, 3), np.float32)
        xywh = np.array([p['bbox'] for p in poses]).reshape(-1, 4)
        out = unique_output_path(args.out_dir, path, taken,
                                 suffix='_pose.png')
        write_image_atomic(out, draw_pose_skeletons(
            np.ascontiguousarray(rgb), kpts[..., :2],
            kpts[..., 2], skeleton, bboxes=np.hstack(
                [xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])))
        print(f'[inference] {i}/{len(images)} {path} -> {out} '
              f'({len(poses)} poses, {time.time() - t0:.1f} s)', flush=True)
    json_path = osp.join(args.out_dir, 'keypoints.json')
    atomic_write_bytes(json.dumps(results).encode('utf-8'), json_path)
    print(f'[inference] keypoints of {len(results)} persons -> {json_path}')
    return _report(len(images) - len(failed), failed, args.out_dir)


def run_referring(model, images: List[str], args) -> int:
    """Write an overlay and a binary mask per image and sentence.

    Args:
        model: A referring model from :func:`vpd.apis.init_model`.
        images (list[str]): Image paths.
        args (argparse.Namespace): Parsed arguments (``text``, ``out_dir``,
            ``opacity``).

    Returns:
        int: Exit status.
    """
    from vpd.apis import inference_model
    from vpd.apis.referring_inference import is_referring_model
    from vpd.visualization import draw_referring_mask, write_image_atomic
    if not is_referring_model(model):
        raise ValueError(f'--text is for referring-segmentation configs; '
                         f'{args.config} builds a {type(model).__name__}')
    if not args.text:
        raise ValueError(f'{args.config} is a referring-segmentation model: '
                         'give the sentence with --text "..."')
    from vpd.apis.inputs import load_image
    from vpd.visualization import unique_output_path
    taken: dict = {}
    failed: List[str] = []
    done = 0
    for i, path in enumerate(images, start=1):
        t0 = time.time()
        try:
            bgr = load_image(path)
            samples = inference_model(model, path, text=list(args.text))
        except Exception as e:  # noqa: BLE001 - skip it, report at the end
            _skip(path, e, failed)
            continue
        base = unique_output_path(args.out_dir, path, taken, suffix='')
        for k, (text, sample) in enumerate(zip(args.text, samples)):
            mask = sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
            out = f'{base}_refer{k}.png'
            write_image_atomic(out, draw_referring_mask(
                bgr[..., ::-1], mask, opacity=args.opacity))
            _write_png_atomic(f'{base}_refer{k}_mask.png', mask * 255)
            print(f'[inference] {i}/{len(images)} {path} "{text}" -> {out} '
                  f'({int(mask.sum())} px, {time.time() - t0:.1f} s)',
                  flush=True)
        done += 1
    return _report(done, failed, args.out_dir)

if __name__ == '__main__':
    from vpd.utils.cli import run_tool
    run_tool(main)
