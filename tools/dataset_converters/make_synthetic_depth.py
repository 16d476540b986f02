"""A procedural indoor depth dataset in the NYU layout, for CPU quickstarts.

Each scene is a box-shaped room (floor, ceiling, back and side walls) with a
few axis-aligned boxes ("furniture") on the floor, seen by a pinhole camera
from several nearby poses. Rendering is vectorised ray casting in numpy:
depth is the exact camera-frame z distance of the first surface hit, in
metres (0.5 to 10 m). The image is shaded so that depth can be learned from
it: a light at the camera with quadratic fall-off, Lambertian shading by
surface normal, world-space textures (floor tiles, wallpaper stripes, box
grids) whose image scale shrinks with distance, and a per-scene-type
palette.

Output (what :class:`vpd.datasets.NYUDepthDataset` reads)::

    out_dir/sync/<scene>_<nnnn>/rgb_00000.jpg, sync_depth_00000.png   (train)
    out_dir/official_splits/test/<scene>/rgb_00400.jpg, ...           (test)
    out_dir/train_list.txt  out_dir/test_list.txt

Scene folders use NYU scene-type names (``bedroom_0001``; test folders are
the bare type, as in the official test split), so the scene-class lookup of
the model works; only types that VPD's lookup maps to themselves are used
(not ``study_room`` or ``office_kitchen``). Depth PNGs are uint16
millimetres. Everything is determined by ``seed``.

Usage::

    python tools/dataset_converters/make_synthetic_depth.py data/synthetic_nyu
"""
from __future__ import annotations

import argparse
import colorsys
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

MIN_DEPTH = 0.5
MAX_DEPTH = 10.0

# The 27 scene types of NYU in VPD's order (kept equal to
# vpd.datasets.NYU_SCENE_CLASSES, checked by the tests) and the types whose
# VPD lookup (first class name found in "<folder>_<file>") is themselves.
NYU_SCENE_CLASSES = (
    'printer_room', 'bathroom', 'living_room', 'study', 'conference_room',
    'study_room', 'kitchen', 'home_office', 'bedroom', 'dinette', 'playroom',
    'indoor_balcony', 'laundry_room', 'basement', 'excercise_room', 'foyer',
    'home_storage', 'cafe', 'furniture_store', 'office_kitchen',
    'student_lounge', 'dining_room', 'reception_room', 'computer_lab',
    'classroom', 'office', 'bookstore')
SCENE_TYPES = tuple(
    name for name in NYU_SCENE_CLASSES
    if next(c for c in NYU_SCENE_CLASSES if c in f'{name}_0001_rgb') == name)


@dataclass
class Room:
    """One scene: room bounds, boxes and appearance (world units: metres).

    The world has y up; the camera starts at the origin looking along +z.
    """

    x_min: float
    x_max: float
    y_min: float  # floor
    y_max: float  # ceiling
    z_max: float  # back wall
    z_min: float = -1.0  # wall behind the camera
    boxes: List[Tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    colors: np.ndarray = None  # (6 + num boxes, 3) albedo in [0, 1]
    tile: float = 0.5  # floor tile size
    stripe: float = 0.3  # wallpaper period
    scene_type: str = 'bedroom'


def _palette(rng: np.random.Generator, type_index: int,
             num: int) -> np.ndarray:
    """Albedos around a hue that depends on the scene type."""
    base_hue = type_index / len(NYU_SCENE_CLASSES)
    colors = []
    for k in range(num):
        hue = (base_hue + rng.normal(0, 0.06) + (0.5 if k >= 6 else 0)) % 1
        sat = rng.uniform(0.15, 0.6)
        val = rng.uniform(0.55, 0.95)
        colors.append(colorsys.hsv_to_rgb(hue, sat, val))
    return np.asarray(colors, dtype=np.float64)


def make_room(rng: np.random.Generator, scene_type: str) -> Room:
    """Sample a room and its furniture.

    Args:
        rng (np.random.Generator): Random generator.
        scene_type (str): NYU scene type (chooses the palette).

    Returns:
        Room: The scene.
    """
    width = rng.uniform(3.0, 6.0)
    x_min = -width * rng.uniform(0.35, 0.65)
    cam_height = rng.uniform(1.0, 1.6)
    room = Room(
        x_min=x_min,
        x_max=x_min + width,
        y_min=-cam_height,
        y_max=rng.uniform(2.4, 3.2) - cam_height,
        z_max=rng.uniform(3.5, 9.0),
        tile=rng.uniform(0.3, 0.8),
        stripe=rng.uniform(0.15, 0.5),
        scene_type=scene_type)
    for _ in range(int(rng.integers(2, 6))):
        size = rng.uniform([0.4, 0.3, 0.4], [1.5, 1.8, 1.2])
        x0 = rng.uniform(room.x_min, room.x_max - size[0])
        z0 = rng.uniform(1.6, max(1.7, room.z_max - size[2]))
        lo = np.array([x0, room.y_min, z0])
        room.boxes.append((lo, lo + size))
    room.colors = _palette(rng, NYU_SCENE_CLASSES.index(scene_type),
                           6 + len(room.boxes))
    return room


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    """World-from-camera rotation: pitch about x, then yaw about y."""
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    r_pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return r_yaw @ r_pitch


def render(room: Room,
           origin: np.ndarray,
           rot: np.ndarray,
           height: int,
           width: int,
           rng: np.random.Generator,
           scale: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """Ray-cast one view.

    Args:
        room (Room): The scene.
        origin (np.ndarray): Camera centre (3,).
        rot (np.ndarray): World-from-camera rotation (3, 3).
        height (int): Image height.
        width (int): Image width.
        rng (np.random.Generator): For sensor noise.
        scale (float): Scale the room geometry and the camera position about
            the world origin (textures and lighting stay metric, so the
            image still matches the depth). Defaults to 1.0.

    Returns:
        tuple[np.ndarray, np.ndarray]: RGB uint8 image (H, W, 3) and depth
        float64 (H, W) in metres (camera z).
    """
    focal = 0.8 * width
    jj, ii = np.meshgrid(np.arange(width), np.arange(height))
    dirs_cam = np.stack([
        (jj + 0.5 - width / 2) / focal,
        -(ii + 0.5 - height / 2) / focal,
        np.ones((height, width)),
    ], axis=-1).reshape(-1, 3)
    dirs = dirs_cam @ rot.T  # camera z of a point at parameter t is t
    dirs = np.where(np.abs(dirs) < 1e-9, 1e-9, dirs)
    origin = origin * scale
    inv = 1.0 / dirs
    num = dirs.shape[0]

    # Room: the exit point of the box around the camera.
    lo = np.array([room.x_min, room.y_min, room.z_min]) * scale
    hi = np.array([room.x_max, room.y_max, room.z_max]) * scale
    t_axis = np.where(dirs > 0, (hi - origin) * inv, (lo - origin) * inv)
    axis = np.argmin(t_axis, axis=1)
    t = t_axis[np.arange(num), axis]
    positive = dirs[np.arange(num), axis] > 0
    # surface ids: 0 left wall, 1 right wall, 2 floor, 3 ceiling,
    # 4 wall behind, 5 back wall, 6.. boxes
    surface = axis * 2 + positive
    normal = np.zeros((num, 3))
    normal[np.arange(num), axis] = np.where(positive, -1.0, 1.0)

    # Boxes: slab test, all boxes at once.
    if room.boxes:
        b_lo = np.stack([b[0] for b in room.boxes]) * scale  # (B, 3)
        b_hi = np.stack([b[1] for b in room.boxes]) * scale
        t1 = (b_lo[:, None] - origin) * inv[None]  # (B, N, 3)
        t2 = (b_hi[:, None] - origin) * inv[None]
        t_near_axis = np.minimum(t1, t2)
        t_near = t_near_axis.max(axis=2)
        t_far = np.maximum(t1, t2).min(axis=2)
        hit = (t_near < t_far) & (t_near > 1e-6)
        t_box = np.where(hit, t_near, np.inf)
        best = np.argmin(t_box, axis=0)
        t_best = t_box[best, np.arange(num)]
        closer = t_best < t
        t = np.where(closer, t_best, t)
        surface = np.where(closer, 6 + best, surface)
        entry_axis = np.argmax(t_near_axis[best, np.arange(num)], axis=1)
        box_normal = np.zeros((num, 3))
        box_normal[np.arange(num), entry_axis] = -np.sign(
            dirs[np.arange(num), entry_axis])
        normal = np.where(closer[:, None], box_normal, normal)

    point = origin + t[:, None] * dirs
    x, y, z = point[:, 0], point[:, 1], point[:, 2]

    # Textures in world coordinates (metres), so their image scale follows
    # the depth.
    texture = np.ones(num)
    floor = surface == 2
    tiles = (np.floor(x / room.tile) + np.floor(z / room.tile)) % 2
    texture = np.where(floor, 0.72 + 0.28 * tiles, texture)
    side = (surface == 0) | (surface == 1)
    back = surface == 5
    along = np.where(side, z, x)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * along / room.stripe)
    texture = np.where(side | back, 0.8 + 0.2 * stripes, texture)
    ceiling = surface == 3
    texture = np.where(ceiling, 0.95, texture)
    boxes = surface >= 6
    grid = ((np.abs(np.sin(np.pi * x / 0.2)) < 0.15) |
            (np.abs(np.sin(np.pi * y / 0.2)) < 0.15) |
            (np.abs(np.sin(np.pi * z / 0.2)) < 0.15))
    texture = np.where(boxes, np.where(grid, 0.7, 1.0), texture)

    albedo = room.colors[surface] * texture[:, None]

    # A light slightly above the camera; quadratic fall-off and Lambert.
    light = origin + np.array([0.0, 0.3, 0.0])
    to_light = light - point
    dist = np.linalg.norm(to_light, axis=1)
    lambert = np.abs(np.sum(normal * to_light, axis=1)) / np.maximum(
        dist, 1e-9)
    falloff = 1.0 / (1.0 + (dist / 2.5)**2)
    shade = 0.08 + 1.15 * lambert * falloff
    rgb = albedo * shade[:, None]
    rgb = rgb + rng.normal(0.0, 0.01, rgb.shape)
    rgb = np.clip(rgb, 0.0, 1.0) ** (1 / 1.6)
    image = (rgb.reshape(height, width, 3) * 255 + 0.5).astype(np.uint8)
    image = cv2.GaussianBlur(image, (3, 3), 0.6)
    return image, t.reshape(height, width)


def render_view(room: Room, rng: np.random.Generator, height: int,
                width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Render a random camera pose in ``room``, depth within 0.5-10 m.

    Args:
        room (Room): The scene.
        rng (np.random.Generator): Random generator (pose and noise).
        height (int): Image height.
        width (int): Image width.

    Returns:
        tuple[np.ndarray, np.ndarray]: RGB uint8 image and float depth (m).
    """
    origin = np.array([
        rng.uniform(room.x_min + 0.6, room.x_max - 0.6),
        rng.uniform(-0.1, 0.1),
        rng.uniform(0.0, 0.6),
    ])
    rot = _rotation(rng.uniform(-0.35, 0.35), rng.uniform(-0.2, 0.08))
    noise_seed = int(rng.integers(2**31))
    image, depth = render(room, origin, rot, height, width,
                          np.random.default_rng(noise_seed))
    low, high = depth.min(), depth.max()
    if high > MAX_DEPTH - 0.1 or low < MIN_DEPTH + 0.05:
        # Scaling the room about the camera scales every depth by the same
        # factor; the image is re-rendered at the new scale.
        scale = min((MAX_DEPTH - 0.1) / high, 1.0)
        if low * scale < MIN_DEPTH + 0.05:
            scale = (MIN_DEPTH + 0.05) / low
        shifted = room_origin_shift(room, origin)
        image, depth = render(shifted, np.zeros(3), rot, height, width,
                              np.random.default_rng(noise_seed), scale)
    return image, np.clip(depth, MIN_DEPTH, MAX_DEPTH)


def room_origin_shift(room: Room, origin: np.ndarray) -> Room:
    """The same room expressed with the camera at the world origin."""
    boxes = [(lo - origin, hi - origin) for lo, hi in room.boxes]
    return Room(
        x_min=room.x_min - origin[0],
        x_max=room.x_max - origin[0],
        y_min=room.y_min - origin[1],
        y_max=room.y_max - origin[1],
        z_max=room.z_max - origin[2],
        z_min=room.z_min - origin[2],
        boxes=boxes,
        colors=room.colors,
        tile=room.tile,
        stripe=room.stripe,
        scene_type=room.scene_type)


def _write_pair(folder: str, index: int, image: np.ndarray,
                depth: np.ndarray) -> Tuple[str, str]:
    """Write ``rgb_<index>.jpg`` and ``sync_depth_<index>.png``."""
    os.makedirs(folder, exist_ok=True)
    img_name = f'rgb_{index:05d}.jpg'
    depth_name = f'sync_depth_{index:05d}.png'
    if not cv2.imwrite(
            osp.join(folder, img_name), image[..., ::-1],
            [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise OSError(f'cannot write {osp.join(folder, img_name)}')
    depth_mm = np.rint(depth * 1000.0).astype(np.uint16)
    if not cv2.imwrite(osp.join(folder, depth_name), depth_mm):
        raise OSError(f'cannot write {osp.join(folder, depth_name)}')
    return img_name, depth_name


def make_synthetic_depth(out_dir: str,
                         num_train: int = 400,
                         num_test: int = 50,
                         height: int = 96,
                         width: int = 128,
                         seed: int = 0,
                         views_per_scene: int = 10) -> Tuple[str, str]:
    """Write the synthetic dataset.

    Args:
        out_dir (str): Output root (the dataset's ``data_root``).
        num_train (int): Training images. Defaults to 400.
        num_test (int): Test images. Defaults to 50.
        height (int): Image height. Defaults to 96.
        width (int): Image width. Defaults to 128.
        seed (int): Seed; the output is a function of all arguments.
            Defaults to 0.
        views_per_scene (int): Camera poses per room. Defaults to 10.

    Returns:
        tuple[str, str]: Paths of ``train_list.txt`` and ``test_list.txt``.
    """
    if num_train < 0 or num_test < 0:
        raise ValueError('num_train and num_test must be >= 0.')
    if height < 8 or width < 8:
        raise ValueError(f'image size {height}x{width} is too small.')
    if views_per_scene < 1:
        raise ValueError('views_per_scene must be >= 1.')
    order = np.random.default_rng([seed, 0]).permutation(len(SCENE_TYPES))
    type_counts = {}
    index = 0
    scene_idx = 0
    split_lines = {'train': [], 'test': []}
    for split, total in (('train', num_train), ('test', num_test)):
        made = 0
        while made < total:
            scene_type = SCENE_TYPES[order[scene_idx % len(SCENE_TYPES)]]
            room_rng = np.random.default_rng([seed, 1, scene_idx])
            room = make_room(room_rng, scene_type)
            if split == 'train':
                type_counts[scene_type] = type_counts.get(scene_type, 0) + 1
                folder_name = f'{scene_type}_{type_counts[scene_type]:04d}'
                folder = osp.join(out_dir, 'sync', folder_name)
            else:
                folder_name = scene_type
                folder = osp.join(out_dir, 'official_splits', 'test',
                                  folder_name)
            for view in range(min(views_per_scene, total - made)):
                view_rng = np.random.default_rng([seed, 2, scene_idx, view])
                image, depth = render_view(room, view_rng, height, width)
                img_name, depth_name = _write_pair(folder, index, image,
                                                   depth)
                split_lines[split].append(
                    f'/{folder_name}/{img_name} /{folder_name}/{depth_name}')
                index += 1
                made += 1
            scene_idx += 1
    paths = []
    os.makedirs(out_dir, exist_ok=True)
    for split in ('train', 'test'):
        path = osp.join(out_dir, f'{split}_list.txt')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(''.join(line + '\n' for line in split_lines[split]))
        paths.append(path)
    return paths[0], paths[1]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Write a procedural indoor depth dataset in the NYU '
        'layout (for CPU quickstarts).')
    parser.add_argument('out_dir', help='output root (data_root)')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-test', type=int, default=50)
    parser.add_argument('--height', type=int, default=96)
    parser.add_argument('--width', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--views-per-scene', type=int, default=10)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Tuple[str, str]:
    """Run from the command line."""
    args = parse_args(argv)
    paths = make_synthetic_depth(args.out_dir, args.num_train, args.num_test,
                                 args.height, args.width, args.seed,
                                 args.views_per_scene)
    print(f'train split: {paths[0]}\ntest split: {paths[1]}')
    return paths


if __name__ == '__main__':
    # vpd (and torch) is imported only if there is an error to report
    _argv = sys.argv[1:]
    try:
        _status = main([a for a in _argv if a != '--debug'])
    except Exception as _exc:  # noqa: BLE001 - one line for user errors
        from vpd.utils.cli import handle_tool_error
        handle_tool_error(_exc, '--debug' in _argv)
    sys.exit(_status if isinstance(_status, int) else 0)
