"""KeypointMSELoss: weighted mean, as mmpose 1.x."""
import pytest
import torch

from vpd.models.losses import KeypointMSELoss


def test_weighted_mean_over_all_elements():
    pred = torch.zeros(2, 3, 4, 4)
    target = torch.ones(2, 3, 4, 4)
    w = torch.tensor([[1., 0., 1.], [0., 0., 1.]])
    loss = KeypointMSELoss()(pred, target, w)
    assert loss.item() == pytest.approx(3 / 6)
    assert KeypointMSELoss(use_target_weight=False)(
        pred, target, w).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match='target_weights'):
        KeypointMSELoss()(pred, target, w[:, :2])
