"""MetaPromptConditioner: per-loop prompts, time vectors, adapters."""
import pytest
import torch

from vpd.models.conditioners import MetaPromptConditioner
from vpd.models.conditioners.meta_prompt_conditioner import (
    OFFICIAL_MP_CONDITIONER_KEY_MAP, map_official_key)
from vpd.registry import MODELS


def _cond(**kw):
    torch.manual_seed(0)
    cfg = dict(type='MetaPromptConditioner', num_prompts=50, embed_dim=32,
               num_loops=3, time_embed_dim=128)
    cfg.update(kw)
    return MODELS.build(cfg)


@pytest.mark.parametrize('num_loops', [1, 3])
def test_prompt_shapes_per_loop(num_loops):
    cond = _cond(num_loops=num_loops)
    out = cond(4, None)
    assert len(out['context']) == num_loops
    assert len(out['time_embeds']) == num_loops
    for i, (ctx, temb) in enumerate(zip(out['context'], out['time_embeds'])):
        assert ctx.shape == (4, 50, 32)
        assert temb.shape == (4, 128)
        # loop i: its own adapter applied to its own prompts, no residual
        adapter = getattr(cond, f'text_adapter{i + 1}')
        expected = adapter.fc(getattr(cond, f'meta_prompts{i + 1}'))
        torch.testing.assert_close(ctx[0], expected)
        torch.testing.assert_close(ctx[3], expected)
        torch.testing.assert_close(temb, getattr(cond, f't{i + 1}').expand(
            4, -1))
    assert out['prompts'] is out['context'][-1]


def test_per_loop_sets_differ_and_names_follow_reference():
    cond = _cond()
    ctx = cond(1)['context']
    assert not torch.allclose(ctx[0], ctx[1])
    names = {n: tuple(p.shape) for n, p in cond.named_parameters()}
    for i in (1, 2, 3):
        assert names[f'meta_prompts{i}'] == (50, 32)
        assert names[f't{i}'] == (1, 128)
        assert names[f'text_adapter{i}.fc.0.weight'] == (32, 32)
        assert names[f'text_adapter{i}.fc.2.bias'] == (32, )
    assert len(names) == 3 * (2 + 4)


def test_shared_prompts_without_adapter():
    cond = _cond(num_prompts=150, share_prompts=True, use_adapter=False)
    names = {n for n, _ in cond.named_parameters()}
    assert names == {'meta_prompts', 't1', 't2', 't3'}
    out = cond(2)
    for ctx in out['context']:
        torch.testing.assert_close(ctx[1], cond.meta_prompts)
    assert out['context'][0].shape == (2, 150, 32)


def test_shared_prompts_with_one_adapter():
    cond = _cond(share_prompts=True, use_adapter=True)
    assert hasattr(cond, 'text_adapter') and not hasattr(
        cond, 'text_adapter1')
    torch.testing.assert_close(cond(1)['context'][2][0],
                               cond.text_adapter.fc(cond.meta_prompts))


def test_gradients_reach_prompts_time_vectors_and_adapters():
    cond = _cond()
    out = cond(2)
    loss = sum(c.square().mean() for c in out['context']) + sum(
        t.square().mean() for t in out['time_embeds'])
    loss.backward()
    missing = [n for n, p in cond.named_parameters()
               if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


def test_bad_arguments():
    with pytest.raises(ValueError, match='num_loops'):
        MetaPromptConditioner(num_loops=0)
    with pytest.raises(IndexError, match='num_loops=3'):
        _cond().loop_prompts(3)


def test_map_official_key():
    depth = OFFICIAL_MP_CONDITIONER_KEY_MAP['depth']
    assert map_official_key('encoder.t2', depth) == ('conditioner.t2', 'same')
    assert map_official_key('encoder.meta_prompts3', depth) == (
        'conditioner.meta_prompts3', 'same')
    assert map_official_key('encoder.text_adapter1.fc.2.weight', depth) == (
        'conditioner.text_adapter1.fc.2.weight', 'same')
    assert map_official_key('encoder.layer1.0.weight', depth) is None
    seg = OFFICIAL_MP_CONDITIONER_KEY_MAP['seg']
    assert map_official_key('meta_prompts', seg) == (
        'conditioner.meta_prompts', 'same')
    assert map_official_key('t3', seg) == ('conditioner.t3', 'same')
    assert map_official_key('text_encoder.x', seg) is None
    assert map_official_key('x', [('x.', None, 'drop'),
                                  ('x', None, 'drop')]) == ('', 'drop')
