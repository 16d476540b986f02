"""mmseg's ``LoadAnnotations`` with errors that name the annotation file."""
from __future__ import annotations

from mmseg.datasets.transforms import LoadAnnotations as MMSegLoadAnnotations

from vpd.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadAnnotations(MMSegLoadAnnotations):
    """Load ``seg_map_path``; a missing or undecodable file names itself.

    Registered in the vpd scope under mmseg's name, so every config's
    ``dict(type='LoadAnnotations')`` gets it; ``'mmseg.LoadAnnotations'``
    stays reachable. Same arguments and outputs as mmseg's, which fails on
    a corrupt PNG with ``AttributeError: 'NoneType' object has no attribute
    'squeeze'`` (no file named). Labels outside the classes are checked by
    the segmentor, which knows ``num_classes``
    (:meth:`vpd.models.segmentors.DiffusionSegmentor.check_labels`).

    Raises:
        FileNotFoundError: The annotation does not exist (message names it).
        ValueError: It is not a readable label image (message names it).
    """

    def _load_seg_map(self, results: dict) -> None:
        path = results.get('seg_map_path')
        try:
            super()._load_seg_map(results)
        except FileNotFoundError:
            raise FileNotFoundError(
                f'annotation "{path}" does not exist.') from None
        except Exception as e:  # noqa: BLE001 - decoders raise many types
            raise ValueError(
                f'cannot read annotation "{path}": expected a single-channel '
                f'label image such as a PNG ({type(e).__name__}: {e}).'
            ) from e
