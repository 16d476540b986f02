"""mmcv's ``LoadImageFromFile`` with errors that name the image file."""
from __future__ import annotations

from typing import Optional

from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile

from vpd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """Load ``img_path``; a missing or undecodable file names itself.

    Registered in the vpd scope under mmcv's name (as ``DepthMetric``
    shadows mmseg's), so every config's ``dict(type='LoadImageFromFile')``
    gets it; ``'mmcv.LoadImageFromFile'`` stays reachable. Same arguments
    and outputs as mmcv's; mmcv fails on a corrupt file with
    ``AssertionError: failed to load image`` (seen as a bug, with a
    traceback) and on a missing one with the backend's error.

    Raises:
        FileNotFoundError: The image does not exist (message names it).
        ValueError: The file is not a readable image (message names it).
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image (see mmcv's ``LoadImageFromFile``).

        Args:
            results (dict): With ``img_path``.

        Returns:
            dict | None: With ``img``, ``img_shape``, ``ori_shape``; None
            only with ``ignore_empty=True``.
        """
        path = results.get('img_path')
        try:
            return super().transform(results)
        except FileNotFoundError:
            raise FileNotFoundError(
                f'image "{path}" does not exist.') from None
        except Exception as e:  # noqa: BLE001 - decoders raise many types
            raise ValueError(
                f'cannot read image "{path}": the file is corrupt or not an '
                f'image ({type(e).__name__}: {e}).') from e
