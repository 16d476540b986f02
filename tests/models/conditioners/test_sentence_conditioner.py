"""SentenceConditioner: CLIP's token ids, a frozen text model kept out of
the state dict, shapes, errors, cached and precomputed features."""
import copy
import warnings

import pytest
import torch

from _clip import hf_clip_tokenizer, official_ids
from vpd.models.conditioners import SentenceConditioner
from vpd.models.backbones.tiny_sd_stand_in import write_tiny_clip_text

SENTENCES = [
    'the man in the red shirt on the left',
    'Giraffe, far right!',
    'a photo of a cat',
    'the second donut from the top , with sprinkles',
]


@pytest.fixture(scope='module')
def clip_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('clip') / 'tiny_clip_text')
    write_tiny_clip_text(path, seed=0)
    return path


@pytest.fixture(scope='module')
def hf_tok():
    return hf_clip_tokenizer()


def _samples(texts):
    from mmseg.structures import SegDataSample
    return [SegDataSample(metainfo=dict(text=t, img_path=f'{i}.jpg',
                                        ref_id=i))
            for i, t in enumerate(texts)]


@pytest.mark.parametrize('length', [40, 77])
def test_token_ids_equal_clip_tokenizer(hf_tok, length):
    cond = SentenceConditioner(text_encoder=None, token_length=length,
                               embed_dim=32)
    ids = cond.tokenize(SENTENCES)
    assert torch.equal(ids, official_ids(hf_tok, SENTENCES, length))
    # CLIP's ids of "a photo of a cat", padded with EOS (49407)
    assert ids[2, :8].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407,
                                   49407]
    assert (ids[:, -1] == 49407).all()


def test_truncation_warns_or_raises(hf_tok):
    long_text = ' '.join(['red'] * 50)
    cond = SentenceConditioner(text_encoder=None, token_length=10,
                               embed_dim=32)
    with pytest.warns(UserWarning, match='truncated'):
        ids = cond.tokenize([long_text])
    assert torch.equal(ids, official_ids(hf_tok, [long_text], 10))
    strict = SentenceConditioner(text_encoder=None, token_length=10,
                                 embed_dim=32, truncate=False)
    with pytest.raises(ValueError, match='52 tokens.*token_length=10'):
        strict.tokenize([long_text])
    for empty in ('', '   '):
        with pytest.raises(ValueError, match=r'\(image 0.jpg, ref 0\) is '
                           'empty'):
            cond(1, _samples([empty]))
    with pytest.raises(KeyError, match='"text"'):
        from mmseg.structures import SegDataSample
        cond(1, [SegDataSample(metainfo=dict(img_path='x.jpg'))])


def test_features_shape_frozen_and_not_stored(clip_dir, hf_tok):
    from transformers import CLIPTextModel
    cond = SentenceConditioner(text_encoder=clip_dir, token_length=40,
                               embed_dim=32)
    keys = set(cond.state_dict())
    assert keys == {'gamma', 'text_adapter.fc.0.weight',
                    'text_adapter.fc.0.bias', 'text_adapter.fc.2.weight',
                    'text_adapter.fc.2.bias'}
    out = cond(4, _samples(SENTENCES))['context']
    assert out.shape == (4, 40, 32)
    # last_hidden_state of the official ids, through x + gamma * MLP(x)
    ref = CLIPTextModel.from_pretrained(clip_dir).eval()
    with torch.no_grad():
        feats = ref(input_ids=official_ids(hf_tok, SENTENCES, 40)
                    ).last_hidden_state
        expected = feats + cond.gamma * cond.text_adapter.fc(feats)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    # loading the text model added nothing to the module
    assert set(cond.state_dict()) == keys
    assert sum(p.numel() for p in cond.parameters()) == 32 + 2 * (32 * 32
                                                                   + 32)
    assert not any(p.requires_grad
                   for p in cond.load_text_encoder().model.parameters())
    # gradients reach the adapter and gamma only
    out.sum().backward()
    assert cond.gamma.grad is not None
    assert copy.deepcopy(cond)._frozen is cond._frozen  # shared, not copied


def test_distinct_sentences_give_distinct_features(clip_dir):
    """The tiny random text model keeps the sentence signal."""
    cond = SentenceConditioner(text_encoder=clip_dir, token_length=10,
                               embed_dim=32)
    texts = ['the red shape', 'the blue shape', 'the red circle',
             'the circle on the left', 'the circle on the right',
             'the shape in the middle']
    feats = cond.encode_sentences(texts).flatten(1)
    dist = torch.cdist(feats, feats)
    off = dist[~torch.eye(len(texts), dtype=torch.bool)]
    assert off.min() > 0.1 * dist.max()


def test_cache_and_precomputed_feature_file(clip_dir, tmp_path):
    from vpd.utils.checkpoint import save_checkpoint_atomic
    cond = SentenceConditioner(text_encoder=clip_dir, token_length=10,
                               embed_dim=32, cache_size=2)
    calls = []
    model = cond.load_text_encoder().model
    original = model.token_features

    def counting(ids):
        calls.append(len(ids))
        return original(ids)

    model.token_features = counting
    try:
        first = cond.encode_sentences(['the red shape', 'the blue shape'])
        again = cond.encode_sentences(['the blue shape', 'the red shape'])
        assert calls == [2]  # the second call came from the cache
        assert torch.equal(first.flip(0), again)
        # least recently used first out: 'the blue shape'
        cond.encode_sentences(['the green shape'])
        cond.encode_sentences(['the red shape'])  # still cached
        cond.encode_sentences(['the blue shape'])
        assert calls == [2, 1, 1]
    finally:
        model.token_features = original
    # a precomputed file: no text model needed for the sentences it holds
    ids = cond.tokenize(['the red shape', 'the blue shape'])
    path = str(tmp_path / 'feats.safetensors')
    save_checkpoint_atomic(dict(input_ids=ids,
                                features=first.half()), path)
    cached = SentenceConditioner(text_encoder=str(tmp_path / 'absent'),
                                 token_length=10, embed_dim=32,
                                 feature_file=path)
    got = cached.encode_sentences(['the red shape', 'the blue shape'])
    assert cached._frozen.model is None  # never loaded
    torch.testing.assert_close(got, first, atol=2e-3, rtol=2e-3)
    with pytest.raises(FileNotFoundError, match='absent'):
        cached.encode_sentences(['a sentence not in the file'])
    with pytest.raises(ValueError, match='expected'):
        SentenceConditioner(text_encoder=None, token_length=12,
                            embed_dim=32, feature_file=path)


def test_width_and_length_checks(clip_dir):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        wide = SentenceConditioner(text_encoder=clip_dir, token_length=10,
                                   embed_dim=64)
        with pytest.raises(ValueError, match='width 32'):
            wide.load_text_encoder()
    with pytest.raises(ValueError, match='token_length'):
        SentenceConditioner(text_encoder=None, token_length=2)
