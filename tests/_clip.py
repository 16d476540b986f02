"""Local tiny CLIP text models and CLIP tokenizer files for the tests.

Nothing is downloaded: the tokenizer files are written from open_clip's
bundled BPE (the vocabulary of OpenAI CLIP), spelled as transformers'
``CLIPTokenizer`` expects them (``<|startoftext|>``, ``<|endoftext|>``).
"""
import json
import os


def write_hf_clip_tokenizer(path: str) -> str:
    """Write ``vocab.json`` / ``merges.txt`` of CLIP's BPE into ``path``."""
    from open_clip.tokenizer import SimpleTokenizer
    tok = SimpleTokenizer()
    vocab = dict(tok.encoder)
    vocab['<|startoftext|>'] = vocab.pop('<start_of_text>')
    vocab['<|endoftext|>'] = vocab.pop('<end_of_text>')
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, 'vocab.json'), 'w', encoding='utf-8') as f:
        json.dump(vocab, f)
    merges = sorted(tok.bpe_ranks.items(), key=lambda kv: kv[1])
    with open(os.path.join(path, 'merges.txt'), 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n')
        f.writelines(f'{a} {b}\n' for (a, b), _ in merges)
    return path


_CACHE = {}


def hf_clip_tokenizer():
    """transformers ``CLIPTokenizer`` from :func:`write_hf_clip_tokenizer`
    files in a temporary folder (its default pad token is
    ``<|endoftext|>``, as in ``openai/clip-vit-large-patch14``); built once
    per process."""
    if 'tok' not in _CACHE:
        import tempfile

        from transformers import CLIPTokenizer
        path = write_hf_clip_tokenizer(tempfile.mkdtemp(prefix='clip_tok_'))
        _CACHE['tok'] = CLIPTokenizer.from_pretrained(path,
                                                      local_files_only=True)
    return _CACHE['tok']


def official_ids(tokenizer, texts, token_length):
    """Token ids exactly as ``refer/data/dataset_refer_clip.py`` makes
    them (one sentence at a time, then stacked)."""
    import torch
    rows = []
    for text in texts:
        out = tokenizer(text=text, truncation=True, max_length=token_length,
                        return_length=True, return_overflowing_tokens=False,
                        padding='max_length', return_tensors='pt')
        rows.append(out['input_ids'][:, :token_length])
    return torch.cat(rows)
