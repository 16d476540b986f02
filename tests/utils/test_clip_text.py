"""Tests of vpd.utils.clip_text with tiny randomly initialised CLIP models."""
import os

os.environ['HF_HUB_OFFLINE'] = '1'  # noqa: E402 - before transformers loads

import json
import shutil
import warnings

import pytest
import torch

from vpd.utils.clip_text import (IMAGENET_TEMPLATES, NYU_SCENE_CLASSES,
                                 SEG_TEMPLATE, ClipTokenizer,
                                 build_class_embeddings, build_prompts,
                                 encode_texts, get_class_names,
                                 load_clip_text_encoder, read_class_file)

transformers = pytest.importorskip('transformers')
open_clip = pytest.importorskip('open_clip')

WIDTH = 32


def make_tiny_clip_text(path, num_layers=2, seed=0):
    """Save a tiny random CLIPTextModel (no tokenizer files) to ``path``."""
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CLIPTextConfig(hidden_size=WIDTH, intermediate_size=64,
                         num_hidden_layers=num_layers, num_attention_heads=2,
                         vocab_size=49408, max_position_embeddings=77,
                         eos_token_id=49407, bos_token_id=49406,
                         pad_token_id=1)
    torch.manual_seed(seed)
    model = CLIPTextModel(cfg).eval()
    model.save_pretrained(str(path))
    return model


def write_hf_tokenizer(path, break_specials=False):
    """Write CLIP vocab.json/merges.txt built from open_clip's bundled BPE."""
    from open_clip.tokenizer import SimpleTokenizer
    tok = SimpleTokenizer()
    vocab = dict(tok.encoder)
    if not break_specials:  # transformers spells the special tokens so
        vocab['<|startoftext|>'] = vocab.pop('<start_of_text>')
        vocab['<|endoftext|>'] = vocab.pop('<end_of_text>')
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, 'vocab.json'), 'w', encoding='utf-8') as f:
        json.dump(vocab, f)
    merges = sorted(tok.bpe_ranks.items(), key=lambda kv: kv[1])
    with open(os.path.join(path, 'merges.txt'), 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n')
        f.writelines(f'{a} {b}\n' for (a, b), _ in merges)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """(folder, reference CLIPTextModel, loaded encoder, tokenizer)."""
    path = tmp_path_factory.mktemp('clip') / 'tiny_clip_text'
    ref = make_tiny_clip_text(path)
    model, tok = load_clip_text_encoder(str(path))
    return path, ref, model, tok


def oc_ids(texts):
    from open_clip.tokenizer import SimpleTokenizer
    return SimpleTokenizer()(list(texts))


def test_templates_and_class_lists():
    assert len(IMAGENET_TEMPLATES) == 80
    assert len(set(IMAGENET_TEMPLATES)) == 80
    assert all(t.count('{}') == 1 for t in IMAGENET_TEMPLATES)
    # Same 80 CLIP templates, same order, as open_clip's copy.
    from open_clip import OPENAI_IMAGENET_TEMPLATES
    assert [t.format('X') for t in IMAGENET_TEMPLATES] == [
        f('X') for f in OPENAI_IMAGENET_TEMPLATES]
    assert SEG_TEMPLATE == 'a photo of a {}'
    nyu = get_class_names('nyu')
    assert len(nyu) == 27 and len(set(nyu)) == 27
    assert nyu[:3] == ['printer_room', 'bathroom', 'living_room']
    assert nyu[-3:] == ['classroom', 'office', 'bookstore']

    def vpd_scene_id(filename):  # VPD: first listed name found in the name
        return next(i for i, n in enumerate(nyu) if n in filename)

    assert nyu[vpd_scene_id('study_room_0004_rgb_00001.jpg')] == 'study'
    assert nyu[vpd_scene_id('office_kitchen_0001_rgb_1.jpg')] == 'kitchen'
    assert nyu[vpd_scene_id('home_office_0005_rgb_2.jpg')] == 'home_office'
    assert tuple(nyu) == NYU_SCENE_CLASSES
    with pytest.raises(ValueError, match='Unknown class set'):
        get_class_names('voc')


def test_mmseg_class_lists():
    ade = get_class_names('ade20k')
    city = get_class_names('cityscapes')
    assert len(ade) == 150 and ade[0] == 'wall'
    assert len(city) == 19 and city[0] == 'road'


def test_build_prompts():
    prompts = build_prompts(['living_room', 'cat'], 'depth')
    assert len(prompts) == 2 and all(len(p) == 80 for p in prompts)
    assert prompts[0][0] == 'a bad photo of a living room.'
    assert build_prompts(['traffic light'], 'seg') == [
        ['a photo of a traffic light']]
    with pytest.raises(ValueError, match='mode'):
        build_prompts(['cat'], 'cls')
    with pytest.raises(ValueError, match='empty'):
        build_prompts(['cat', ' '], 'seg')


def test_read_class_file(tmp_path):
    f = tmp_path / 'names.txt'
    f.write_text('wall\n\n  # a comment\n traffic light \n', encoding='utf-8')
    assert read_class_file(str(f)) == ['wall', 'traffic light']
    with pytest.raises(FileNotFoundError, match='one class name per line'):
        read_class_file(str(tmp_path / 'missing.txt'))
    (tmp_path / 'empty.txt').write_text('\n', encoding='utf-8')
    with pytest.raises(ValueError, match='no class names'):
        read_class_file(str(tmp_path / 'empty.txt'))


def test_tokenizer_matches_open_clip():
    tok = ClipTokenizer('open_clip')
    texts = ['a photo of a cat.', 'A bad photo of the Living Room!']
    assert torch.equal(tok(texts), oc_ids(texts))
    assert tok.eos_token_id == 49407 and tok.bos_token_id == 49406
    long_text = ' '.join(['cat'] * 100)
    with pytest.warns(UserWarning, match='truncated'):
        ids = tok([long_text])
    assert ids.shape == (1, 77) and ids[0, -1] == 49407
    assert torch.equal(ids, oc_ids([long_text]))


def test_load_transformers_folder(tiny):
    path, _, model, tok = tiny
    assert model.backend == 'transformers'
    assert model.width == WIDTH and model.context_length == 77
    assert tok.backend == 'open_clip'  # no tokenizer files in the folder
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training


def test_seg_shape_and_equals_pooled_output(tiny):
    _, ref, model, tok = tiny
    names = ['wall', 'traffic light', 'potted_plant']
    emb = build_class_embeddings(names, model, tok, mode='seg')
    assert emb.shape == (3, WIDTH) and emb.dtype == torch.float32
    assert not emb.requires_grad
    prompts = ['a photo of a wall', 'a photo of a traffic light',
               'a photo of a potted plant']
    with torch.no_grad():
        expected = ref(input_ids=oc_ids(prompts)).pooler_output
    torch.testing.assert_close(emb, expected, atol=1e-5, rtol=1e-5)


def test_depth_equals_template_mean(tiny):
    _, ref, model, tok = tiny
    names = ['living_room', 'bookstore']
    emb = build_class_embeddings(names, model, tok, mode='depth',
                                 batch_size=37)
    assert emb.shape == (2, WIDTH)
    rows = []
    with torch.no_grad():
        for name in ('living room', 'bookstore'):
            prompts = [t.format(name) for t in IMAGENET_TEMPLATES]
            feats = ref(input_ids=oc_ids(prompts)).pooler_output
            rows.append(feats.mean(dim=0))  # raw features, no L2 norm
    torch.testing.assert_close(emb, torch.stack(rows), atol=1e-5, rtol=1e-5)
    # Averaging normalised features would give a different (unit-scale) row.
    normed = torch.nn.functional.normalize(
        ref(input_ids=oc_ids([t.format('bookstore')
                              for t in IMAGENET_TEMPLATES])).pooler_output,
        dim=-1).mean(0)
    assert not torch.allclose(emb[1], normed, atol=1e-3)


def test_padding_does_not_change_pooled_feature(tiny):
    _, ref, model, tok = tiny
    texts = ['a photo of a cat', 'a jpeg corrupted photo of the dining room.']
    ids = tok(texts)
    eos = (ids == tok.eos_token_id).int().argmax(1)
    with torch.no_grad():
        full = model(ids, eos)
        trimmed = model(ids[:, :int(eos.max()) + 1], eos)
        # transformers-style padding (pad with EOS) instead of zeros
        eos_pad = ids.clone()
        eos_pad[torch.arange(77)[None] > eos[:, None]] = tok.eos_token_id
        padded_eos = model(eos_pad, eos)
        expected = ref(input_ids=ids).pooler_output
    torch.testing.assert_close(full, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(trimmed, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded_eos, full, atol=1e-5, rtol=1e-5)
    # batch composition (and so the trimmed length) does not matter either
    one_by_one = torch.cat([encode_texts(model, tok, [t]) for t in texts])
    torch.testing.assert_close(encode_texts(model, tok, texts), one_by_one,
                               atol=1e-5, rtol=1e-5)


def test_encode_texts_argument_errors(tiny):
    _, _, model, tok = tiny
    with pytest.raises(TypeError):
        encode_texts(model, tok, 'a photo of a cat')
    with pytest.raises(ValueError, match='empty'):
        encode_texts(model, tok, [])
    with pytest.raises(ValueError, match='batch_size'):
        encode_texts(model, tok, ['x'], batch_size=0)


def test_missing_path_and_hub_id_errors(tmp_path):
    missing = str(tmp_path / 'no_such_clip')
    with pytest.raises(FileNotFoundError) as err:
        load_clip_text_encoder(missing)
    msg = str(err.value)
    assert missing in msg and 'does not exist' in msg
    assert 'config.json' in msg and 'open_clip_config.json' in msg
    for hub_id in ('openai/clip-vit-large-patch14', 'hf-hub:laion/CLIP'):
        with pytest.raises(FileNotFoundError) as err:
            load_clip_text_encoder(hub_id)
        msg = str(err.value)
        assert hub_id in msg and 'model-hub id' in msg
        assert 'never downloads' in msg and 'local' in msg.lower()


def test_bad_folders(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='neither config.json'):
        load_clip_text_encoder(str(empty))
    no_weights = tmp_path / 'no_weights'
    no_weights.mkdir()
    (no_weights / 'config.json').write_text('{"model_type": "clip"}')
    with pytest.raises(FileNotFoundError, match='no weights'):
        load_clip_text_encoder(str(no_weights))
    with pytest.raises(ValueError, match='backend'):
        load_clip_text_encoder(str(no_weights), backend='jax')


def test_checkpoint_not_matching_config_raises(tmp_path):
    path = tmp_path / 'clip'
    make_tiny_clip_text(path, num_layers=2)
    cfg = json.loads((path / 'config.json').read_text())
    cfg['num_hidden_layers'] = 3  # layer 2 would stay random
    (path / 'config.json').write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match='uninitialised'):
        load_clip_text_encoder(str(path))


def test_legacy_text_model_key_prefix(tmp_path, tiny):
    """Checkpoints saved before transformers 5.6 prefix keys 'text_model.'."""
    from safetensors.torch import load_file, save_file
    src, ref, model, tok = tiny
    old = tmp_path / 'old_layout'
    old.mkdir()
    shutil.copy(src / 'config.json', old / 'config.json')
    sd = load_file(str(src / 'model.safetensors'))
    save_file({'text_model.' + k: v.contiguous() for k, v in sd.items()},
              str(old / 'model.safetensors'), metadata={'format': 'pt'})
    old_model, _ = load_clip_text_encoder(str(old))
    texts = ['a photo of a cat']
    torch.testing.assert_close(encode_texts(old_model, tok, texts),
                               encode_texts(model, tok, texts))


def test_sd_pipeline_layout_with_local_hf_tokenizer(tmp_path, tiny):
    src, _, model, tok = tiny
    sd_dir = tmp_path / 'sd15'
    shutil.copytree(src, sd_dir / 'text_encoder')
    write_hf_tokenizer(str(sd_dir / 'tokenizer'))
    sd_model, sd_tok = load_clip_text_encoder(str(sd_dir))
    assert sd_model.backend == 'transformers'
    assert sd_tok.backend == 'transformers'
    texts = ['a photo of a cat.', 'itap of my dining room']
    ids = sd_tok(texts)
    assert ids[0, :8].tolist() == oc_ids(texts)[0, :8].tolist()
    torch.testing.assert_close(encode_texts(sd_model, sd_tok, texts),
                               encode_texts(model, tok, texts))
    _, oc_tok = load_clip_text_encoder(str(sd_dir), tokenizer='open_clip')
    assert oc_tok.backend == 'open_clip'


def test_broken_local_hf_tokenizer_falls_back(tmp_path, tiny):
    src = tiny[0]
    path = tmp_path / 'clip'
    shutil.copytree(src, path)
    write_hf_tokenizer(str(path), break_specials=True)  # wrong BOS/EOS ids
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        _, tok = load_clip_text_encoder(str(path))
    assert tok.backend == 'open_clip'
    assert any('Ignoring the tokenizer' in str(w.message) for w in caught)
    with pytest.raises(FileNotFoundError, match='tokenizer'):
        load_clip_text_encoder(str(src), tokenizer='transformers')


def _tiny_open_clip_cfg():
    return {
        'embed_dim': 16, 'quick_gelu': True,
        'vision_cfg': {'image_size': 32, 'layers': 1, 'width': 64,
                       'patch_size': 16, 'head_width': 32},
        'text_cfg': {'context_length': 77, 'vocab_size': 49408,
                     'width': WIDTH, 'heads': 2, 'layers': 2},
    }


def test_open_clip_folder_and_file(tmp_path):
    cfg = _tiny_open_clip_cfg()
    torch.manual_seed(0)
    clip = open_clip.model.CLIP(**cfg).eval()
    folder = tmp_path / 'oc'
    folder.mkdir()
    (folder / 'open_clip_config.json').write_text(
        json.dumps({'model_cfg': cfg}))
    torch.save(clip.state_dict(), folder / 'open_clip_pytorch_model.bin')
    model, tok = load_clip_text_encoder(str(folder))
    assert model.backend == 'open_clip' and model.width == WIDTH
    texts = ['a photo of a cat', 'a tattoo of the living room.']
    pooled = encode_texts(model, tok, texts)
    with torch.no_grad():
        # encode_text = pooled EOS feature @ text_projection
        expected = clip.encode_text(oc_ids(texts))
        torch.testing.assert_close(pooled @ clip.text_projection, expected,
                                   atol=1e-5, rtol=1e-5)
    # A single checkpoint file with an explicit architecture name.
    (tmp_path / 'vpd-test-tiny-clip.json').write_text(json.dumps(cfg))
    open_clip.add_model_config(str(tmp_path / 'vpd-test-tiny-clip.json'))
    model2, _ = load_clip_text_encoder(
        str(folder / 'open_clip_pytorch_model.bin'),
        open_clip_model='vpd-test-tiny-clip')
    torch.testing.assert_close(encode_texts(model2, tok, texts), pooled)
    with pytest.raises(ValueError, match='needs a folder'):
        load_clip_text_encoder(str(folder / 'open_clip_pytorch_model.bin'),
                               backend='transformers')


def test_full_clip_model_folder(tmp_path):
    """openai/clip-vit-large-patch14 layout: a CLIPModel (text + vision)."""
    from transformers import CLIPConfig, CLIPModel
    text_cfg = dict(hidden_size=WIDTH, intermediate_size=64,
                    num_hidden_layers=2, num_attention_heads=2,
                    vocab_size=49408, max_position_embeddings=77,
                    eos_token_id=49407)
    vision_cfg = dict(hidden_size=32, intermediate_size=64,
                      num_hidden_layers=1, num_attention_heads=2,
                      image_size=32, patch_size=16)
    torch.manual_seed(0)
    full = CLIPModel(CLIPConfig(text_config=text_cfg,
                                vision_config=vision_cfg,
                                projection_dim=16)).eval()
    full.save_pretrained(str(tmp_path / 'clip'))
    model, tok = load_clip_text_encoder(str(tmp_path / 'clip'),
                                        backend='transformers')
    emb = build_class_embeddings(['cat', 'dog'], model, tok, mode='seg')
    with torch.no_grad():
        expected = full.text_model(
            input_ids=oc_ids(['a photo of a cat', 'a photo of a dog'])
        ).pooler_output  # before text_projection
    torch.testing.assert_close(emb, expected, atol=1e-5, rtol=1e-5)
