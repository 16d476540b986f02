"""Every path that reads a user's file refuses code (case rel-01).

One parametrised test per (read path x malicious file): a torch checkpoint
(zip) and a raw pickle whose unpickling runs ``os.mkdir(MARKER)``, and a
TorchScript archive whose ``__setstate__`` creates MARKER with
``torch.from_file`` when ``torch.jit.load`` opens it. The fixture first
proves that each payload is live (it does create MARKER when loaded the
unsafe way); each case then asserts that MARKER was not created. The read
paths are those listed in the README's security paragraph.
"""
import json
import os
import os.path as osp
import pickle
import sys
from typing import Tuple

import pytest
import torch
import torch.nn as nn

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join(ROOT, 'configs', 'quickstart',
                      'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')


class _MkdirPayload:
    """Unpickling this calls ``os.mkdir(marker)``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker, ))


class _ScriptPayload(nn.Module):
    """A TorchScript module whose ``__setstate__`` (run by
    ``torch.jit.load``) creates ``target`` through ``torch.from_file``."""

    target: str

    def __init__(self, target: str) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.target = target

    def forward(self, x):
        return x

    @torch.jit.export
    def __getstate__(self):
        return (self.w, self.training, self.target)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool, str]):
        self.w = state[0]
        self.training = state[1]
        self.target = state[2]
        t = torch.from_file(self.target, shared=True, size=1,
                            dtype=torch.uint8)
        t.fill_(1)
        if int(t.sum()) > 1:  # a use of t, so the write is not optimised out
            print('unreachable')


def _gone(marker):
    if osp.isdir(marker):
        os.rmdir(marker)
    elif osp.exists(marker):
        os.remove(marker)


@pytest.fixture(scope='module')
def evil(tmp_path_factory):
    """The three malicious files (bytes) and the marker they create."""
    folder = tmp_path_factory.mktemp('evil')
    marker = str(folder / 'MARKER')
    files = {}
    zip_path = folder / 'zip.pth'
    torch.save({'state_dict': {'w': _MkdirPayload(marker)}}, zip_path)
    files['torch-pickle'] = zip_path.read_bytes()
    files['raw-pickle'] = pickle.dumps({'w': _MkdirPayload(marker)},
                                       protocol=2)
    ts_path = folder / 'ts.pt'
    torch.jit.save(torch.jit.script(_ScriptPayload(marker)), str(ts_path))
    files['torchscript'] = ts_path.read_bytes()
    # the payloads are live when loaded the unsafe way
    torch.load(zip_path, weights_only=False)
    assert osp.isdir(marker)
    _gone(marker)
    pickle.loads(files['raw-pickle'])
    assert osp.isdir(marker)
    _gone(marker)
    torch.jit.load(str(ts_path))
    assert osp.isfile(marker)
    _gone(marker)
    return dict(files=files, marker=marker)


def _tiny_json(part):
    from vpd.models.backbones.sd_weights import load_preset
    cfg = load_preset('tiny', part)
    cfg['_class_name'] = ('UNet2DConditionModel' if part == 'unet' else
                          'AutoencoderKL')
    return json.dumps(cfg)


# ---------------------------------------------------------------------------
# The read paths: each takes (folder, malicious bytes) and reads them
# ---------------------------------------------------------------------------
def _put(folder, name, data):
    path = osp.join(folder, name)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def read_checkpoint_file(folder, data):
    """Checkpoints given to test.py / inference / converters."""
    from vpd.utils.checkpoint import load_checkpoint_file
    load_checkpoint_file(_put(folder, 'model.pth', data))


def read_mmengine_checkpoint(folder, data):
    """load_from, --resume, init_cfg=dict(type='Pretrained')."""
    import vpd.engine  # noqa: F401  (installs the safe loaders)
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.load_checkpoint(_put(folder, 'iter_1.pth', data))


def read_model_weights(folder, data):
    """vpd.apis.load_model_weights (tools/test.py, tools/inference.py)."""
    from vpd.apis import load_model_weights
    load_model_weights(nn.Linear(1, 1), _put(folder, 'model.pth', data))


def read_sd_single_file(folder, data):
    """model.backbone.pretrained = v1-5-pruned-emaonly.ckpt."""
    from vpd.models.backbones.sd_weights import build_sd_models
    build_sd_models('tiny', 'tiny', _put(folder, 'sd.ckpt', data))


def read_sd_diffusers_folder(folder, data):
    """model.backbone.pretrained = a diffusers folder with .bin weights."""
    from vpd.models.backbones.sd_weights import build_sd_models
    for part in ('unet', 'vae'):
        _put(folder, f'sd/{part}/config.json', _tiny_json(part).encode())
        _put(folder, f'sd/{part}/diffusion_pytorch_model.bin', data)
    build_sd_models('tiny', 'tiny', osp.join(folder, 'sd'))


def read_class_embeddings(folder, data):
    """model.conditioner.class_embeddings = FILE."""
    from vpd.models.conditioners import ClassEmbeddingConditioner
    ClassEmbeddingConditioner(_put(folder, 'emb.pth', data), embed_dim=32)


def read_clip_file(folder, data):
    """make_class_embeddings.py --clip ViT-L-14.pt (open_clip / OpenAI).

    With the default architecture a TorchScript file went to
    ``torch.jit.load`` (rel-01); now it is refused before anything is built.
    Other files go to open_clip's ``create_model(arch, pretrained=FILE)``,
    which builds the architecture first: ViT-S-32 instead of the default
    ViT-L-14 there, only to keep the test fast (the file is read the same
    way)."""
    from vpd.utils.clip_text import load_clip_text_encoder
    path = _put(folder, 'ViT-L-14.pt', data)
    if data.startswith(b'PK') and b'constants.pkl' in data:  # TorchScript
        load_clip_text_encoder(path)
    else:
        load_clip_text_encoder(path, open_clip_model='ViT-S-32')


def read_clip_transformers_folder(folder, data):
    """--clip a transformers folder holding pytorch_model.bin."""
    from vpd.utils.clip_text import load_clip_text_encoder
    config = dict(model_type='clip_text_model', hidden_size=8,
                  intermediate_size=16, num_attention_heads=2,
                  num_hidden_layers=1, max_position_embeddings=77,
                  vocab_size=49408, projection_dim=8,
                  architectures=['CLIPTextModel'])
    _put(folder, 'clip/config.json', json.dumps(config).encode())
    _put(folder, 'clip/pytorch_model.bin', data)
    load_clip_text_encoder(osp.join(folder, 'clip'))


def read_clip_open_clip_folder(folder, data):
    """--clip an open_clip folder holding open_clip_pytorch_model.bin."""
    from vpd.utils.clip_text import load_clip_text_encoder
    config = dict(model_cfg=dict(
        embed_dim=8,
        vision_cfg=dict(image_size=32, layers=1, width=8, patch_size=16,
                        head_width=8),
        text_cfg=dict(context_length=77, vocab_size=49408, width=8, heads=2,
                      layers=1)))
    _put(folder, 'oc/open_clip_config.json', json.dumps(config).encode())
    _put(folder, 'oc/open_clip_pytorch_model.bin', data)
    load_clip_text_encoder(osp.join(folder, 'oc'))


def read_official_converter(folder, data):
    """tools/model_converters/official_to_vpd.py (and download --convert)."""
    sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
    import official_to_vpd
    status = official_to_vpd.main([QUICKSTART, _put(folder, 'off.pth', data),
                                   osp.join(folder, 'out.pth')])
    assert status != 0
    raise RuntimeError('refused')  # (the tool reports and returns 1)


def read_refer_pickle(folder, data):
    """REFER refs(unc).p annotations: vpd.utils.checkpoint's restricted
    unpickler (plain containers and scalars only)."""
    from vpd.utils.checkpoint import restricted_pickle_load
    restricted_pickle_load(_put(folder, 'refs(unc).p', data))


READ_PATHS = [
    read_checkpoint_file, read_mmengine_checkpoint, read_model_weights,
    read_sd_single_file, read_sd_diffusers_folder, read_class_embeddings,
    read_clip_file, read_clip_transformers_folder, read_clip_open_clip_folder,
    read_official_converter, read_refer_pickle
]


@pytest.mark.parametrize('kind', ['torch-pickle', 'raw-pickle',
                                  'torchscript'])
@pytest.mark.parametrize('read', READ_PATHS, ids=lambda f: f.__name__)
def test_malicious_file_runs_nothing(read, kind, evil, tmp_path):
    marker = evil['marker']
    _gone(marker)
    with pytest.raises(Exception) as err:  # refused, one way or another
        read(str(tmp_path), evil['files'][kind])
    assert not osp.exists(marker), f'{read.__name__} ran code from {kind}'
    assert not isinstance(err.value, (AssertionError, NameError))


def test_torchscript_clip_opt_in_is_explicit(evil, tmp_path):
    """The refusal names the file and the flag; the flag does load it."""
    from vpd.utils.clip_text import load_clip_text_encoder
    path = _put(str(tmp_path), 'ViT-L-14.pt', evil['files']['torchscript'])
    with pytest.raises(ValueError) as err:
        load_clip_text_encoder(path)
    assert path in str(err.value) and 'TorchScript' in str(err.value)
    assert '--allow-torchscript' in str(err.value)
    assert not osp.exists(evil['marker'])
    with pytest.raises(Exception):  # not a CLIP model, but it was loaded
        load_clip_text_encoder(path, allow_torchscript=True)
    assert osp.exists(evil['marker'])  # i.e. the opt-in really runs code
    _gone(evil['marker'])


def test_restricted_unpickler_reads_plain_refer_data(tmp_path):
    from collections import OrderedDict

    from vpd.utils.checkpoint import restricted_pickle_load
    refs = [dict(ref_id=1, ann_id=7, image_id=3, split='train',
                 sentences=[dict(sent='the man on the left', tokens=['the'])],
                 bbox=(1.5, 2.0, 3.0, 4.0), flags={1, 2},
                 extra=OrderedDict(a=b'raw'))]
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        path = tmp_path / f'refs_{protocol}.p'
        path.write_bytes(pickle.dumps(refs, protocol=protocol))
        assert restricted_pickle_load(str(path)) == refs
    with open(path, 'rb') as f:
        assert restricted_pickle_load(f) == refs
