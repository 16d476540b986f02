"""tools/analysis_tools/benchmark_depth_tta.py on the tiny Meta Prompts
depth config: both test paths run, agree, and are timed."""
import os.path as osp

from _tools import load_tool  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs', 'quickstart',
               'meta-prompts_tiny_1xb4-300_synthetic-depth-96x128.py')


def test_batched_and_sequential_agree_and_are_timed(capsys):
    result = load_tool('analysis_tools', 'benchmark_depth_tta').main([
        CFG, '--size', '64', '96', '--shift-windows', '2', '--flip', '1',
        '--iters', '1', '--warmup', '0', '--batch-size', '2'
    ])
    out = capsys.readouterr().out
    assert result['views'] == 4  # 2 windows x flip
    assert result['max_abs_diff'] < 1e-5
    assert result['sequential'] > 0 and result['batched'] > 0
    assert abs(result['speedup'] -
               result['sequential'] / result['batched']) < 1e-9
    assert '3 UNet loop(s)' in out and 'speedup:' in out
