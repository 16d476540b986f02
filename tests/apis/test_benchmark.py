"""tools/analysis_tools/benchmark.py and vpd.apis.benchmark on tiny configs:
every phase runs and is measured (times, memory, FLOPs), the test phase runs
the config's TTA path, families plug in their synthetic ground truth."""
import json
import os.path as osp

import pytest
import torch
from _tools import load_tool

from vpd.apis import benchmark as bm

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPTH = osp.join(ROOT, 'configs', 'quickstart',
                 'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')
SEG = osp.join(ROOT, 'configs', 'quickstart',
               'vpd_tiny-fpn_1xb4-300_synthetic-seg-64x64.py')


def test_depth_tool_all_phases_table_and_json(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    result = load_tool('analysis_tools', 'benchmark').main([
        DEPTH, '--size', '64', '64', '--test-size', '64', '96', '--iters',
        '1', '--warmup', '0', '--train-batch-size', '2', '--json', str(out)
    ])
    table = capsys.readouterr().out
    phases = result['phases']
    assert set(phases) == {'forward', 'train', 'test'}
    for name, entry in phases.items():
        assert len(entry['seconds']) == 1
        assert entry['median_s'] == entry['seconds'][0] > 0
        assert entry['images_per_s'] == pytest.approx(
            entry['images'] / entry['median_s'])
        assert entry['peak_mem_bytes'] > 0
        assert entry['flops_per_image'] > 0
        assert 0 < entry['fraction_of_matmul']
    assert phases['train']['images'] == 2
    # the config's TTA (flip, one window) runs the image twice: about twice
    # the forward FLOPs of a same-size forward (a 64x96 image, not 64x64)
    assert result['test_tta'] is True
    fwd = phases['forward']['flops_per_image'] / (64 * 64)
    tta = phases['test']['flops_per_image'] / (64 * 96)
    assert 1.5 < tta / fwd < 2.5
    # a training step costs more than a forward (backward ~ 2x forward)
    assert phases['train']['flops_per_image'] > 2 * phases['forward'][
        'flops_per_image']
    assert '| test (config TTA) |' in table and '| train step |' in table
    saved = json.loads(out.read_text())
    assert saved['phases']['forward']['median_s'] == pytest.approx(
        phases['forward']['median_s'])


def test_seg_tta_pipeline_views_and_sizes():
    from mmengine.config import Config
    cfg = Config.fromfile(SEG)
    crop, test = bm._default_sizes(cfg)
    assert crop == test == (64, 64)
    batch, use_tta = bm.test_time_batch(cfg, 1, (64, 64))
    # the synthetic set's TTA pipeline: its scales x {no flip, flip}, no
    # annotation loading
    assert use_tta and len(batch['inputs']) == len(cfg.tta_pipeline[1][
        'transforms'][0]) * 2
    result = bm.run_benchmark(cfg, phases=['test'], iters=1, warmup=0,
                              size=(64, 64), flops=False, probe=False)
    assert result['phases']['test']['median_s'] > 0


def test_default_sizes_of_recipes():
    from mmengine.config import Config
    nyu = Config.fromfile(osp.join(ROOT, 'configs', 'vpd',
                                   'vpd_sd15_8xb3-25e_nyu-480x480.py'))
    assert bm._default_sizes(nyu) == ((480, 480), (480, 640))
    kitti = Config.fromfile(osp.join(ROOT, 'configs', 'vpd',
                                     'vpd_sd15_8xb3-25e_kitti-352x352.py'))
    assert bm._default_sizes(kitti) == ((352, 352), (352, 1216))


def test_new_family_plugs_in_and_unknown_family_is_named():

    class ToyPoseEstimator(torch.nn.Module):
        pass

    class ToyChild(ToyPoseEstimator):
        pass

    @bm.register_synthetic_samples('ToyPoseEstimator')
    def toy_samples(model, batch_size, size, gen):
        return [dict(size=size, k=torch.rand(3, generator=gen))
                for _ in range(batch_size)]

    samples = bm.synthetic_data_samples(ToyChild(), 2, (8, 8), seed=1)
    assert len(samples) == 2 and samples[0]['size'] == (8, 8)

    class WithMethod(torch.nn.Module):

        def synthetic_data_samples(self, batch_size, size):
            return ['own'] * batch_size

    assert bm.synthetic_data_samples(WithMethod(), 3, (4, 4)) == ['own'] * 3
    with pytest.raises(TypeError, match='Unknown.*register_synthetic_samples'):

        class Unknown(torch.nn.Module):
            pass

        bm.synthetic_data_samples(Unknown(), 1, (4, 4))


def test_flop_count_includes_cpu_fused_attention():
    q = torch.randn(1, 2, 16, 8)
    n = bm.count_flops(
        lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert n == 4 * 2 * 16 * 16 * 8  # QK^T and PV, 2 FLOPs per MAC


def test_training_memory_on_meta_device():
    from mmengine.config import Config
    one = bm.training_memory(Config.fromfile(DEPTH), (64, 64), 1)
    two = bm.training_memory(Config.fromfile(DEPTH), (64, 64), 2)
    ckpt = bm.training_memory(Config.fromfile(DEPTH), (64, 64), 2, True)
    assert one['adamw'] == 2 * one['grads'] and one['params'] > one['grads']
    assert two['activations'] == pytest.approx(2 * one['activations'],
                                               rel=0.05)
    assert 0 < ckpt['activations'] < 0.6 * two['activations']
    assert two['total'] == sum(two[k] for k in ('params', 'grads', 'adamw',
                                                'activations'))
