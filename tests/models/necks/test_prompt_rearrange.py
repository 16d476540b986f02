"""PromptRearrange: the Meta Prompts einsum against a hand-written loop."""
import pytest
import torch

from vpd.models.necks import PromptRearrange


def _by_hand(feats, prompts):
    b, c, h, w = feats.shape
    n = prompts.shape[1]
    out = torch.zeros(b, n, h, w, dtype=feats.dtype)
    for i in range(b):
        for j in range(n):
            # dot product of every pixel feature with prompt j
            out[i, j] = (feats[i] * prompts[i, j].view(c, 1, 1)).sum(0)
    return out


def test_matches_hand_written_einsum():
    torch.manual_seed(0)
    feats = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    prompts = torch.randn(2, 4, 6, dtype=torch.float64)
    out = PromptRearrange()(feats, prompts)
    assert out.shape == (2, 4, 5, 7)
    torch.testing.assert_close(out, _by_hand(feats, prompts))
    torch.testing.assert_close(
        out, torch.einsum('bchw,bnc->bnhw', feats, prompts))


def test_no_softmax_and_shared_prompts():
    feats = torch.full((3, 2, 1, 1), 2.0)
    prompts = torch.tensor([[1.0, 1.0], [10.0, -3.0]])  # [N, C], shared
    out = PromptRearrange()(feats, prompts)
    assert out.shape == (3, 2, 1, 1)
    torch.testing.assert_close(out[:, :, 0, 0],
                               torch.tensor([[4.0, 14.0]] * 3))


def test_gradients_reach_both_inputs():
    feats = torch.randn(1, 3, 2, 2, requires_grad=True)
    prompts = torch.randn(1, 5, 3, requires_grad=True)
    PromptRearrange()(feats, prompts).square().sum().backward()
    assert feats.grad.abs().sum() > 0 and prompts.grad.abs().sum() > 0


def test_shape_errors():
    m = PromptRearrange()
    with pytest.raises(ValueError, match='prompt width'):
        m(torch.randn(1, 3, 2, 2), torch.randn(1, 5, 4))
    with pytest.raises(ValueError, match='Batch sizes'):
        m(torch.randn(2, 3, 2, 2), torch.randn(3, 5, 3))
    with pytest.raises(ValueError, match=r'\[B, C, H, W\]'):
        m(torch.randn(3, 2, 2), torch.randn(1, 5, 3))
