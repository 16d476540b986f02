"""The logger hook logs every `interval` iterations or `max_silence` s."""
from types import SimpleNamespace

import pytest

from vpd.engine.hooks import ProgressLoggerHook
from vpd.engine.hooks import progress_logger_hook as module


class _Clock:
    now = 0.0

    def __call__(self):
        return self.now


def _runner(lines):
    processor = SimpleNamespace(get_log_after_iter=lambda runner, i, mode: (
        {}, f'{mode} {i + 1} eta'))
    return SimpleNamespace(
        iter=0, log_processor=processor, train_dataloader=[None] * 1000,
        logger=SimpleNamespace(info=lines.append),
        visualizer=SimpleNamespace(add_scalars=lambda *a, **k: None),
        experiment_name='x')


def test_logs_by_count_and_by_time(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(module.time, 'monotonic', clock)
    hook = ProgressLoggerHook(interval=10, max_silence=30,
                              interval_exp_name=10**6)
    hook.json_log_path = 'unused.json'
    lines = []
    runner = _runner(lines)
    hook.before_train(runner)
    for i in range(25):  # 1 s per iteration: by count only
        clock.now += 1
        runner.iter = i
        hook.after_train_iter(runner, i)
    assert lines == ['train 10 eta', 'train 20 eta']
    lines.clear()
    for i in range(25, 29):  # 20 s per iteration: a line every 30 s
        clock.now += 20
        runner.iter = i
        hook.after_train_iter(runner, i)
    assert lines == ['train 27 eta', 'train 29 eta']
    lines.clear()
    hook.before_test_epoch(runner)
    for i in range(5):  # slow test batches get lines too
        clock.now += 40
        hook.after_test_iter(runner, i)
    assert lines == [f'test {i} eta' for i in range(1, 6)]
    with pytest.raises(ValueError, match='max_silence'):
        ProgressLoggerHook(max_silence=0)
