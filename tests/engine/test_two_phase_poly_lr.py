"""TwoPhasePolyLR reproduces the official VPD depth schedule."""
import torch
from mmengine.optim import OptimWrapper

from vpd.engine.schedulers import TwoPhasePolyLR


def reference_lr(step, iters_per_epoch, epochs, max_lr, min_lr):
    """The official loop (global_step counted from 1)."""
    half = iters_per_epoch * (epochs // 2)
    if step < half:
        return (max_lr - min_lr) * (step / half)**0.9 + min_lr
    return max(min_lr, (min_lr - max_lr) * (step / half - 1)**0.9 + max_lr)


def test_matches_reference_with_lr_mult():
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW([
        dict(params=[net.weight], lr=5e-4),
        dict(params=[net.bias], lr=5e-4 * 0.01),  # the UNet's lr_mult
    ])
    epochs, ipe = 5, 4
    sched = TwoPhasePolyLR.build_iter_from_epoch(
        OptimWrapper(opt), min_ratio=3e-5 / 5e-4, peak=epochs // 2, begin=0,
        end=epochs, epoch_length=ipe)
    for step in range(1, epochs * ipe + 1):
        ref = reference_lr(step, ipe, epochs, 5e-4, 3e-5)
        assert abs(opt.param_groups[0]['lr'] - ref) < 1e-12, step
        assert abs(opt.param_groups[1]['lr'] - 0.01 * ref) < 1e-14, step
        opt.step()
        sched.step()


def test_shape():
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    sched = TwoPhasePolyLR(opt, min_ratio=0.1, begin=0, end=100,
                           by_epoch=False)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    peak = max(range(100), key=lambda i: lrs[i])
    assert 45 <= peak <= 50 and abs(lrs[peak] - 1.0) < 0.03
    assert lrs[0] < 0.2 and abs(lrs[-1] - 0.1) < 0.05
