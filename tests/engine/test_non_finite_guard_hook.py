"""NonFiniteGuardHook: a NaN/Inf loss or gradient never reaches the weights
or a checkpoint (cases bugrep-01, rel-03)."""
import os

import pytest
import torch

from vpd.engine.hooks import NonFiniteGuardHook, NonFiniteLossError
from vpd.engine.checkpoint_io import read_last_checkpoint
from vpd.utils.checkpoint import load_checkpoint_file

from _tiny_runner import TinyModel, log_text, make_runner

NAN = float('nan')


def _guard(action='stop', **kw):
    return dict(non_finite=dict(type='NonFiniteGuardHook', action=action,
                                **kw))


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_nan_loss_stops_before_the_weights_and_checkpoints(tmp_path):
    weights = []

    def loss_hook(i, loss):
        weights.append(_weights(model).clone())
        return loss * NAN if i == 2 else loss

    model = TinyModel(loss_hook=loss_hook)
    runner = make_runner(str(tmp_path), 6, 'guard_stop', model=model,
                         extra_hooks=_guard(),
                         checkpoint=dict(max_keep_ckpts=1))
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    message = str(err.value)
    for part in ('iteration 3', 'loss_tiny=nan', 'NaN/Inf gradients',
                 'linear.weight', 'lower learning rate', '--amp',
                 "action='skip'", 'weights were not updated',
                 str(tmp_path / 'iter_2.pth')):
        assert part in message, (part, message)
    assert torch.equal(_weights(model), weights[2])  # no update applied
    # tools/train.py prints it as one line and exits 2
    from vpd.utils.cli import user_error_message
    assert user_error_message(err.value).startswith(
        'NonFiniteLossError: Training diverged at iteration 3: ')
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) \
        == ['iter_2.pth']
    assert read_last_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')


def test_non_finite_gradient_with_finite_loss_stops(tmp_path):
    # sqrt at 0: the loss stays finite, the gradient is 0 * inf = NaN
    def loss_hook(i, loss):
        return loss + torch.sqrt(model.linear.weight.sum() * 0) \
            if i == 1 else loss

    model = TinyModel(loss_hook=loss_hook)
    runner = make_runner(str(tmp_path), 4, 'guard_grad', model=model,
                         extra_hooks=_guard(), checkpoint=dict(interval=100))
    with pytest.raises(NonFiniteLossError, match='iteration 2') as err:
        runner.train()
    # the loss itself was finite
    assert 'loss (loss=' in str(err.value)
    assert 'non-finite loss' not in str(err.value)
    assert 'NaN/Inf gradients in 1 of 2 parameters (linear.weight)' \
        in str(err.value)
    assert torch.isfinite(_weights(model)).all()


def test_clipped_nan_gradients_are_caught(tmp_path):
    model = TinyModel(loss_hook=lambda i, loss: loss * NAN if i == 1
                      else loss)
    runner = make_runner(str(tmp_path), 3, 'guard_clip', model=model,
                         extra_hooks=_guard(), clip_grad=dict(max_norm=1.0),
                         checkpoint=dict(interval=100))
    with pytest.raises(NonFiniteLossError, match='iteration 2'):
        runner.train()
    assert torch.isfinite(_weights(model)).all()


def test_skip_mode_skips_and_counts(tmp_path):
    def loss_hook(i, loss):
        if i in (1, 2):
            model.running.fill_(NAN)  # a BatchNorm-like buffer gone NaN
            return loss * NAN
        return loss

    model = TinyModel(loss_hook=loss_hook)
    runner = make_runner(str(tmp_path), 5, 'guard_skip', model=model,
                         extra_hooks=_guard('skip'),
                         checkpoint=dict(interval=100))
    runner.train()
    assert runner.iter == 5
    guard = next(h for h in runner.hooks
                 if isinstance(h, NonFiniteGuardHook))
    assert guard.num_skipped == 2
    assert torch.isfinite(_weights(model)).all()
    assert torch.isfinite(model.running).all()
    log = log_text(runner)
    assert 'Training diverged at iteration 2' in log
    assert '(1 skipped so far)' in log and '(2 skipped so far)' in log
    assert '2 training step(s) with a NaN/Inf loss or gradient were ' \
        'skipped' in log
    sd = load_checkpoint_file(tmp_path / 'iter_5.pth')['state_dict']
    assert all(torch.isfinite(v).all() for v in sd.values())


def test_skip_mode_gives_up_after_too_many_in_a_row(tmp_path):
    model = TinyModel(loss_hook=lambda i, loss: loss * NAN if i >= 1
                      else loss)
    runner = make_runner(str(tmp_path), 8, 'guard_give_up', model=model,
                         extra_hooks=_guard('skip', max_consecutive_skips=3),
                         checkpoint=dict(interval=100))
    with pytest.raises(NonFiniteLossError, match='4 bad iterations in a row'):
        runner.train()


def test_bad_action_is_refused():
    with pytest.raises(ValueError, match="'stop', 'skip'"):
        NonFiniteGuardHook(action='ignore')
