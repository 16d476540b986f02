"""The reference's photometric jitter: brightness/contrast, gamma, HSV."""
from __future__ import annotations

import os
import random
from typing import Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from vpd.registry import TRANSFORMS

Range = Union[float, Tuple[float, float]]


@TRANSFORMS.register_module()
class DepthPhotometricAug(BaseTransform):
    """Brightness/contrast, gamma and HSV jitter of the image only.

    The three albumentations transforms of the reference's training
    augmentation (VPD/GLPDepth ``BaseDataset``), applied in its order, each
    independently with its own probability, with the albumentations defaults
    the reference relied on: ``RandomBrightnessContrast(0.2, 0.2, p=0.5)``,
    ``RandomGamma((80, 120), p=0.5)``,
    ``HueSaturationValue(20, 30, 20, p=0.5)``. The depth map is untouched
    (the reference passed it as a mask target, which photometric transforms
    skip).

    Randomness: albumentations 2 keeps its own generators, which mmengine's
    seeding does not reach and which forked dataloader workers would share.
    Each call therefore reseeds them from numpy's global generator (seeded
    by mmengine per worker), so runs are reproducible and workers differ.
    Importing albumentations is deferred to the first use and its online
    update check is turned off (``NO_ALBUMENTATIONS_UPDATE=1``).

    Required keys: ``img`` (uint8, HxWx3). Modified keys: ``img``.

    Args:
        brightness_limit (float | tuple[float, float]): Defaults to 0.2.
        contrast_limit (float | tuple[float, float]): Defaults to 0.2.
        brightness_contrast_prob (float): Defaults to 0.5.
        gamma_limit (tuple[float, float]): Gamma range in percent.
            Defaults to (80, 120).
        gamma_prob (float): Defaults to 0.5.
        hue_shift_limit (float | tuple[float, float]): Defaults to 20.
        sat_shift_limit (float | tuple[float, float]): Defaults to 30.
        val_shift_limit (float | tuple[float, float]): Defaults to 20.
        hsv_prob (float): Defaults to 0.5.
        channel_order (str): Channel order of ``img``: 'bgr' (mmcv's
            ``LoadImageFromFile`` default) or 'rgb'. The HSV jitter runs on
            RGB, as in the reference. Defaults to 'bgr'.
    """

    def __init__(self,
                 brightness_limit: Range = 0.2,
                 contrast_limit: Range = 0.2,
                 brightness_contrast_prob: float = 0.5,
                 gamma_limit: Tuple[float, float] = (80, 120),
                 gamma_prob: float = 0.5,
                 hue_shift_limit: Range = 20,
                 sat_shift_limit: Range = 30,
                 val_shift_limit: Range = 20,
                 hsv_prob: float = 0.5,
                 channel_order: str = 'bgr') -> None:
        super().__init__()
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(
                f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.brightness_limit = brightness_limit
        self.contrast_limit = contrast_limit
        self.brightness_contrast_prob = brightness_contrast_prob
        self.gamma_limit = tuple(gamma_limit)
        self.gamma_prob = gamma_prob
        self.hue_shift_limit = hue_shift_limit
        self.sat_shift_limit = sat_shift_limit
        self.val_shift_limit = val_shift_limit
        self.hsv_prob = hsv_prob
        self.channel_order = channel_order
        self._aug = None

    def _build(self):
        """Build the albumentations pipeline (imports albumentations)."""
        os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
        import albumentations as A
        return A.Compose([
            A.RandomBrightnessContrast(
                brightness_limit=self.brightness_limit,
                contrast_limit=self.contrast_limit,
                p=self.brightness_contrast_prob),
            A.RandomGamma(gamma_limit=self.gamma_limit, p=self.gamma_prob),
            A.HueSaturationValue(
                hue_shift_limit=self.hue_shift_limit,
                sat_shift_limit=self.sat_shift_limit,
                val_shift_limit=self.val_shift_limit,
                p=self.hsv_prob),
        ])

    def transform(self, results: dict) -> dict:
        """Jitter the image.

        Args:
            results (dict): Result dict with ``img``.

        Returns:
            dict: The result dict.
        """
        if 'img' not in results:
            raise KeyError(
                'DepthPhotometricAug needs the key "img": load the image '
                'first.')
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError(
                'DepthPhotometricAug needs "img" as a uint8 HxWx3 array, got '
                f'{img.dtype} {img.shape} for "{results.get("img_path")}" '
                '(load it with to_float32=False).')
        if self._aug is None:
            self._aug = self._build()
        # One generator pair shared by the three transforms (as a seeded
        # albumentations Compose does), so their draws are independent.
        seed = int(np.random.randint(0, 2**31 - 1))
        self._aug.set_random_state(
            np.random.default_rng(seed), random.Random(seed))
        if self.channel_order == 'bgr':
            img = img[..., ::-1]
        img = self._aug(image=np.ascontiguousarray(img))['image']
        if self.channel_order == 'bgr':
            img = img[..., ::-1]
        results['img'] = np.ascontiguousarray(img)
        return results

    def __getstate__(self) -> dict:
        """Pickle without the albumentations pipeline (rebuilt lazily)."""
        state = self.__dict__.copy()
        state['_aug'] = None
        return state

    def __repr__(self) -> str:
        return (f'{type(self).__name__}('
                f'brightness_limit={self.brightness_limit}, '
                f'contrast_limit={self.contrast_limit}, '
                f'brightness_contrast_prob={self.brightness_contrast_prob}, '
                f'gamma_limit={self.gamma_limit}, '
                f'gamma_prob={self.gamma_prob}, '
                f'hue_shift_limit={self.hue_shift_limit}, '
                f'sat_shift_limit={self.sat_shift_limit}, '
                f'val_shift_limit={self.val_shift_limit}, '
                f'hsv_prob={self.hsv_prob}, '
                f'channel_order={self.channel_order!r})')
