"""Test-time augmentation for depth: flip and shift windows in one batch."""
from typing import List, Optional, Union

import torch
from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData

from vpd.registry import MODELS


@MODELS.register_module()
class DepthTTAModel(BaseTTAModel):
    """Wraps a depth estimator for ``tools/test.py --tta``.

    With an ordinary test pipeline (a dict batch) it runs the estimator's
    batched test-time path: all shift windows and their flips go through
    the model as one batch (the reference's flip + shift-window test). With
    an mmengine ``TestTimeAug`` pipeline (a list of augmented batches) it
    predicts each view and averages the depth maps.

    Args:
        module (dict | nn.Module): The depth estimator.
        flip (bool): Average with the flipped prediction. Defaults to True.
        shift_windows (int): Number of square windows along the longer side
            (1 disables). Defaults to 2 (NYU).
        window_stride (int, optional): Place the windows as mmseg's sliding
            window with this stride instead (see
            :class:`DiffusionDepthEstimator`). Defaults to None.
        data_preprocessor (dict, optional): Unused; the module's is used.
    """

    def __init__(self,
                 module: Union[dict, torch.nn.Module],
                 flip: bool = True,
                 shift_windows: int = 2,
                 window_stride: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        self.tta_cfg = dict(flip=flip, shift_windows=shift_windows,
                            window_stride=window_stride)

    def test_step(self, data):
        """Predict one batch with test-time augmentation."""
        if isinstance(data, (list, tuple)):
            return super().test_step(data)
        data = self.module.data_preprocessor(data, False)
        saved = self.module.test_cfg
        self.module.test_cfg = {**saved, **self.tta_cfg}
        try:
            return self.module.predict(data['inputs'],
                                       data.get('data_samples'))
        finally:
            self.module.test_cfg = saved

    def merge_preds(self, data_samples_list: List[List]) -> List:
        """Average the depth maps of the views of each image."""
        merged = []
        for views in data_samples_list:
            depth = torch.stack([v.pred_depth_map.data for v in views]).mean(0)
            sample = views[0]
            sample.set_data(dict(pred_depth_map=PixelData(data=depth)))
            merged.append(sample)
        return merged
