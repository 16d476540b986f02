"""The official VPD refer checkpoint: layout, safe loading (its ``args`` is
an argparse Namespace), strict conversion, and parity with a plain-torch
re-implementation of ``VPDRefer.forward`` (tiny random model, 1e-4)."""
import argparse
import os.path as osp
import pickle
import sys

import pytest
import torch

from _clip import hf_clip_tokenizer, official_ids
from vpd.models.converters import (ConversionError, convert_checkpoint,
                                   detect_source, to_official,
                                   unwrap_checkpoint)
from vpd.utils.checkpoint import UnsafeCheckpointError, load_checkpoint_file
from vpd.models.backbones.tiny_sd_stand_in import write_tiny_clip_text

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import official_reference as ref  # noqa: E402
from tiny_models import PRE, build, randomize_  # noqa: E402

L = 12
TOL = 1e-4
TEXTS = ['the man in the red shirt on the left', 'a dog']


def refer_cfg(clip_dir):
    return dict(
        type='ReferringSegmentor', data_preprocessor=PRE,
        backbone=dict(type='StableDiffusionBackbone', unet='tiny',
                      vae='tiny', crop_output=True,
                      attn_maps=dict(num_tokens=L, levels=(1, 2),
                                     blocks=('down', 'up'))),
        conditioner=dict(type='SentenceConditioner', text_encoder=clip_dir,
                         token_length=L, embed_dim=32),
        decode_head=dict(type='SimpleDecodingHead',
                         in_channels=[32, 64 + L, 64 + L, 64], channels=32,
                         num_classes=2, norm_cfg=dict(type='BN'),
                         loss_decode=dict(type='WeightedCrossEntropyLoss',
                                          class_weight=[0.9, 1.1])),
        test_cfg=dict(mode='whole'))


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('refer_conv')
    clip_dir = str(tmp / 'clip')
    write_tiny_clip_text(clip_dir, seed=3)
    a = randomize_(build(refer_cfg(clip_dir), 0), seed=1)
    b = build(refer_cfg(clip_dir), 2)
    # the reference saves {'model', 'optimizer', 'epoch', 'args',
    # 'lr_scheduler'} with torch.save; args is an argparse Namespace
    ckpt = to_official(a, 'vpd-refer')
    ckpt.update(optimizer={'state': {}, 'param_groups': []}, epoch=7,
                lr_scheduler={'last_epoch': 100},
                args=argparse.Namespace(dataset='refcoco', token_length=L,
                                        lr=5e-5, splitBy='unc'))
    path = str(tmp / 'model_best_refcoco.pth')
    torch.save(ckpt, path)
    return dict(a=a, b=b, path=path, clip_dir=clip_dir, tmp=tmp,
                tok=hf_clip_tokenizer())


def _metas(texts, size=64):
    return [dict(img_shape=(size, size), ori_shape=(size, size),
                 pad_shape=(size, size), text=t) for t in texts]


def test_layout_safe_load_strict_conversion_and_parity(setup):
    a, b = setup['a'], setup['b']
    ckpt = load_checkpoint_file(setup['path'])  # safe loader
    assert isinstance(ckpt['args'], argparse.Namespace)
    assert ckpt['args'].token_length == L
    state, extra = unwrap_checkpoint(ckpt)
    assert set(extra) == {'optimizer', 'epoch', 'args', 'lr_scheduler'}
    want = set(ref.OFFICIAL_PREFIXES['vpd-refer'])
    assert ref.key_prefixes(state, want) == want
    assert not any('clip' in k or 'text_model' in k for k in state)
    assert detect_source(ckpt) == 'vpd-refer'
    result = convert_checkpoint(ckpt, 'vpd', b, name=setup['path'])
    b.load_state_dict(result.state_dict, strict=True)
    dropped = {k for keys in result.dropped.values() for k in keys}
    assert {'args', 'optimizer', 'epoch', 'lr_scheduler',
            'unet.unet.diffusion_model.out.2.weight',
            'encoder_vq.post_quant_conv.weight'} <= dropped
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        ours = b.encode_decode(x, _metas(TEXTS))
        # the reference's text path: transformers tokenizer + CLIPTextModel
        from transformers import CLIPTextModel
        clip = CLIPTextModel.from_pretrained(setup['clip_dir']).eval()
        l_feats = clip(input_ids=official_ids(setup['tok'], TEXTS, L)
                       ).last_hidden_state
        expected = ref.vpd_refer(state, x, l_feats, b.backbone)
    assert ours.shape == expected.shape == (2, 2, 64, 64)
    diff = (ours - expected).abs().max().item()
    assert diff <= TOL, f'max |diff| {diff:.2e}'
    assert expected.std() > 1e-3
    # the comparison is sensitive: two same-shaped weights swapped
    bad = dict(state)
    bad['text_adapter.fc.0.weight'], bad['text_adapter.fc.2.weight'] = (
        state['text_adapter.fc.2.weight'], state['text_adapter.fc.0.weight'])
    bad['classifier.conv2_3.weight'] = state['classifier.conv2_2.weight']
    with torch.no_grad():
        wrong = ref.vpd_refer(bad, x, l_feats, b.backbone)
    assert (ours - wrong).abs().max().item() > 10 * TOL


def test_loads_through_the_apis_and_the_converter_tool(setup, tmp_path):
    from vpd.apis import load_model_weights
    model = build(refer_cfg(setup['clip_dir']), 5)
    load_model_weights(model, setup['path'])  # converted on the fly
    sa = setup['a'].state_dict()
    assert all(torch.equal(v, sa[k]) for k, v in model.state_dict().items())
    # tools/model_converters/official_to_vpd.py with the quickstart config
    from _tools import load_tool
    tool = load_tool('model_converters', 'official_to_vpd')
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    dst = str(tmp_path / 'converted.safetensors')
    assert tool.main([
        osp.join(root, 'configs', 'quickstart',
                 'vpd_tiny-lavt_1xb8-600_synthetic-refer-64x64.py'),
        setup['path'], dst, '--cfg-options',
        f'model.conditioner.token_length={L}',
        f'model.backbone.attn_maps.num_tokens={L}',
        'model.decode_head.channels=32']) == 0  # (widths derived)
    again = build(refer_cfg(setup['clip_dir']), 6)
    load_model_weights(again, dst)
    assert all(torch.equal(v, sa[k]) for k, v in again.state_dict().items())


def test_strictness_and_unsafe_args(setup, tmp_path):
    ckpt = load_checkpoint_file(setup['path'])
    state = dict(ckpt['model'])
    state['classifier.conv3_2.weight'] = torch.zeros(3)
    del state['classifier.bn1_4.running_mean']
    with pytest.raises(ConversionError) as err:
        convert_checkpoint({'model': state}, 'vpd', setup['b'])
    msg = str(err.value)
    assert 'classifier.conv3_2.weight' in msg
    assert 'decode_head.bn1_4.running_mean' in msg
    # an "args" that runs code when unpickled is refused, nothing runs
    marker = tmp_path / 'pwned'

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f'touch {marker}', ))

    bad = tmp_path / 'evil.pth'
    torch.save(dict(ckpt, args=Evil()), str(bad), pickle_module=pickle)
    with pytest.raises(UnsafeCheckpointError, match='system'):
        load_checkpoint_file(str(bad))
    assert not marker.exists()
