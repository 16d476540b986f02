"""Loaded tensors with NaN/Inf are refused, naming the file (case rel-03)."""
import pytest
import torch
from safetensors.torch import save_file

from vpd.utils.checkpoint import (NonFiniteTensorError, load_checkpoint_file,
                                  non_finite_tensors)


def test_nan_checkpoint_is_refused_naming_file_and_tensor(tmp_path):
    path = tmp_path / 'iter_12.pth'
    sd = {'a.weight': torch.ones(3), 'b.weight': torch.tensor([1., float(
        'nan'), float('inf')]), 'steps': torch.tensor([3])}
    torch.save({'state_dict': sd, 'meta': {'iter': 12}}, path)
    with pytest.raises(NonFiniteTensorError) as err:
        load_checkpoint_file(path)
    assert str(path) in str(err.value)
    assert '"state_dict.b.weight": 2 of 3 values' in str(err.value)
    assert err.value.names == ['state_dict.b.weight']
    # for inspection only
    ck = load_checkpoint_file(path, allow_non_finite=True)
    assert torch.isnan(ck['state_dict']['b.weight'][1])


def test_nan_safetensors_is_refused(tmp_path):
    path = str(tmp_path / 'w.safetensors')
    save_file({'x': torch.full((2, 2), float('-inf'))}, path)
    with pytest.raises(NonFiniteTensorError, match='w.safetensors'):
        load_checkpoint_file(path)


def test_nan_class_embeddings_refused_at_build(tmp_path):
    """model.conditioner.class_embeddings=/tmp/emb_nan.pth trained with a
    NaN loss from iteration 1 (rel-03, second trigger)."""
    from vpd.models.conditioners import ClassEmbeddingConditioner
    path = str(tmp_path / 'emb_nan.pth')
    torch.save(torch.full((5, 32), float('nan')), path)
    with pytest.raises(NonFiniteTensorError) as err:
        ClassEmbeddingConditioner(path, num_classes=5, embed_dim=32)
    assert path in str(err.value) and '160 of 160' in str(err.value)


def test_resume_from_a_nan_checkpoint_is_refused(tmp_path):
    """--resume could continue from NaN weights (bugrep-01)."""
    import vpd.engine  # noqa: F401
    from mmengine.runner.checkpoint import CheckpointLoader
    path = str(tmp_path / 'iter_6.pth')
    torch.save({'state_dict': {'w': torch.tensor([float('nan')])}}, path)
    with pytest.raises(NonFiniteTensorError, match='iter_6.pth'):
        CheckpointLoader.load_checkpoint(path)


def test_non_finite_tensors_walks_containers():
    obj = {'a': [torch.ones(1), (torch.tensor([float('nan')]), 3)],
           'b': torch.tensor([1, 2]), 'c': 'text'}
    assert non_finite_tensors(obj) == [('a.1.0', 1, 1)]
    assert non_finite_tensors(torch.zeros(0)) == []


def test_nan_sd_diffusers_folder_is_refused(tmp_path):
    from vpd.models.backbones.sd_weights import build_sd_models
    from vpd.utils.checkpoint import NonFiniteTensorError
    unet, vae = build_sd_models('tiny', 'tiny')
    with torch.no_grad():
        vae.encoder.conv_in.weight.fill_(float('nan'))
    unet.save_pretrained(str(tmp_path / 'sd' / 'unet'))
    vae.save_pretrained(str(tmp_path / 'sd' / 'vae'))
    with pytest.raises(NonFiniteTensorError) as err:
        build_sd_models('tiny', 'tiny', str(tmp_path / 'sd'))
    assert str(tmp_path / 'sd') in str(err.value)
    assert 'vae.encoder.conv_in.weight' in str(err.value)


def test_all_finite_batched_check_agrees_with_each_tensor():
    """The one-pass check (max-norm per device and dtype) says "finite"
    exactly when every tensor is; large finite values do not overflow it."""
    from vpd.utils.checkpoint import all_finite
    big = torch.full((4,), torch.finfo(torch.float32).max)
    mixed = [torch.ones(3), big, torch.ones(2, dtype=torch.bfloat16),
             torch.ones(2, dtype=torch.float64), torch.tensor([1 + 1j])]
    assert all_finite(mixed) and all_finite([])
    for bad in (float('nan'), float('inf'), float('-inf')):
        for i, t in enumerate(mixed):
            tensors = [x.clone() for x in mixed]
            tensors[i] = t.clone()
            tensors[i].view(-1)[0] = bad
            assert not all_finite(tensors), (bad, t.dtype)
            assert [n for n, _, _ in non_finite_tensors(tensors)] == [str(i)]
