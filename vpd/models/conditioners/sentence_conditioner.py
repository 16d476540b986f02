"""VPD referring segmentation: a frozen CLIP text encoder + the text adapter.

The sentence of each sample (``metainfo['text']``) is tokenised as the
official code does (``wl-zhao/VPD`` ``refer/data/dataset_refer_clip.py``:
transformers ``CLIPTokenizer(truncation=True, max_length=token_length,
padding='max_length')``, i.e. ``[BOS] + bpe(text) + [EOS]`` padded with the
tokenizer's pad token, which for CLIP is ``<|endoftext|>`` = EOS), run
through a frozen CLIP text model (``last_hidden_state``, every position,
padding included, no attention mask: ``refer/train.py``) and refined by the
text adapter ``c = f + gamma * MLP(f)`` (``vpd/models.py``
``TextAdapterRefer``; ``gamma`` a learnable vector initialised to 1e-4,
owned by the top model in the reference).

The CLIP text model is never trained and never stored: it is kept outside
the module tree (not in ``state_dict()``, not in ``parameters()``, so
neither the optimizer nor checkpoints see it) and loaded lazily, on first
use, from a local folder or file through :mod:`vpd.utils.clip_text` (no
download).
"""
from __future__ import annotations

import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from vpd.registry import MODELS
from .text_adapter import TextAdapter

#: Sizes of the seeded random stand-in text model built when
#: ``text_encoder`` is None (tests, benchmarks), besides its width
#: (``embed_dim``): CLIP ViT-L/14's text transformer at width 768 (so a
#: benchmark times a full-size text encoder), else 2 small layers.
_STAND_IN = dict(vocab_size=49408, max_position_embeddings=77,
                 bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
_STAND_IN_CLIP_L = dict(num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072)


def _stand_in_sizes(width: int) -> dict:
    if width == 768:
        return dict(_STAND_IN, **_STAND_IN_CLIP_L)
    return dict(_STAND_IN, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=2 * width)


class _FrozenTextEncoder:
    """Holds the CLIP text model and tokenizer outside ``nn.Module``.

    A plain object: ``nn.Module`` does not register what it holds, so the
    weights stay out of ``state_dict()``, ``parameters()`` (optimizer, DDP)
    and checkpoints.
    """

    def __init__(self) -> None:
        self.model: Optional[nn.Module] = None
        self.tokenizer = None
        self.width = 0
        self.context_length = 0

    def __deepcopy__(self, memo):  # the frozen model is shared, not copied
        return self


@MODELS.register_module()
class SentenceConditioner(nn.Module):
    """Per-sample sentence features as the UNet's encoder hidden states.

    ``forward(B, data_samples)`` reads ``data_samples[i].metainfo['text']``
    and returns ``context`` ``[B, token_length, embed_dim]``: CLIP
    ``last_hidden_state`` of the padded token ids, through the text adapter.

    Sentences: an empty (or whitespace-only) sentence is a ``ValueError``
    naming the sample. A sentence longer than ``token_length`` tokens is
    truncated as the official code does (BOS + the first ``token_length -
    2`` tokens + EOS) with a ``UserWarning``; ``truncate=False`` makes it a
    ``ValueError`` instead.

    Cached features (the text model is frozen, so its output for a sentence
    never changes): ``feature_file`` names a ``.safetensors`` file made by
    ``tools/misc/make_refer_text_features.py`` (``input_ids`` ``[N, L]`` and
    ``features`` ``[N, L, D]``); sentences found there skip the CLIP forward
    (rows are read lazily, memory-mapped). ``cache_size > 0`` also keeps the
    features of up to that many distinct sentences in memory (least recently
    used dropped first). A sentence in neither is encoded by the text model,
    which is then loaded.

    Args:
        text_encoder (str, optional): Local CLIP text encoder: a transformers
            folder (``config.json`` + weights; a CLIP, CLIPTextModel or
            Stable Diffusion pipeline folder), an open_clip folder or
            checkpoint file (see
            :func:`vpd.utils.clip_text.load_clip_text_encoder`). Official:
            ``openai/clip-vit-large-patch14`` (ViT-L/14, width 768). None
            builds a seeded random transformers ``CLIPTextModel`` of width
            ``embed_dim`` (ViT-L/14-shaped at 768, else 2 layers) with
            open_clip's bundled tokenizer, for tests and benchmarks only.
            Defaults to None.
        token_length (int): L, the padded token count (official: 40 for
            RefCOCO / RefCOCO+, 77 for G-Ref). Defaults to 77.
        embed_dim (int): D, the text width = the UNet's cross-attention
            width (768 for SD1.5); derived from the backbone in a segmentor
            config (:mod:`vpd.models.backbones.derived_widths`). Defaults to
            768.
        gamma_init (float): Initial value of the adapter blend vector.
            Defaults to 1e-4.
        tokenizer (str): ``'auto'``, ``'open_clip'`` or ``'transformers'``
            (see :func:`vpd.utils.clip_text.load_clip_tokenizer`); all give
            CLIP's ids. Defaults to ``'auto'``.
        backend (str): ``'auto'``, ``'transformers'`` or ``'open_clip'``.
            Defaults to ``'auto'``.
        open_clip_model (str, optional): open_clip architecture of a
            checkpoint file. Defaults to None.
        feature_file (str, optional): Precomputed features (see above).
            Defaults to None.
        cache_size (int): Sentences whose features are kept in memory.
            Defaults to 0 (no cache).
        truncate (bool): Truncate over-long sentences with a warning (True,
            as the official code) or raise. Defaults to True.
        seed (int): Seed of the stand-in model (``text_encoder=None``).
            Defaults to 0.
    """

    #: The model needs a sentence per sample (``metainfo['text']``).
    needs_text = True

    def __init__(self,
                 text_encoder: Optional[str] = None,
                 token_length: int = 77,
                 embed_dim: int = 768,
                 gamma_init: float = 1e-4,
                 tokenizer: str = 'auto',
                 backend: str = 'auto',
                 open_clip_model: Optional[str] = None,
                 feature_file: Optional[str] = None,
                 cache_size: int = 0,
                 truncate: bool = True,
                 seed: int = 0) -> None:
        super().__init__()
        if int(token_length) < 3:
            raise ValueError(f'token_length must be >= 3 (BOS, one token, '
                             f'EOS), got {token_length}')
        if int(cache_size) < 0:
            raise ValueError(f'cache_size must be >= 0, got {cache_size}')
        self.text_encoder_path = text_encoder
        self.token_length = int(token_length)
        self.num_tokens = self.token_length
        self.embed_dim = int(embed_dim)
        self.tokenizer_kind = tokenizer
        self.backend = backend
        self.open_clip_model = open_clip_model
        self.truncate = bool(truncate)
        self.seed = int(seed)
        self.cache_size = int(cache_size)
        self._cache: 'OrderedDict[bytes, torch.Tensor]' = OrderedDict()
        self._frozen = _FrozenTextEncoder()
        self.feature_file = feature_file
        self._file_index: Optional[Dict[bytes, int]] = None
        self._file_handle = None
        self.text_adapter = TextAdapter(self.embed_dim)
        self.gamma = nn.Parameter(torch.full((self.embed_dim, ), gamma_init))
        if feature_file is not None:
            self._open_feature_file(feature_file)

    # ------------------------------------------------------------------
    # the frozen text model
    # ------------------------------------------------------------------
    def load_text_encoder(self) -> _FrozenTextEncoder:
        """Load (once) and return the frozen text model and tokenizer.

        Returns:
            object: With ``model`` (``input_ids [N, L] -> [N, L, D]`` via
            ``token_features``), ``tokenizer``, ``width`` and
            ``context_length``.

        Raises:
            FileNotFoundError: ``text_encoder`` does not exist locally.
            ValueError: Its width is not ``embed_dim`` or it is shorter than
                ``token_length``.
        """
        frozen = self._frozen
        if frozen.model is not None:
            return frozen
        from vpd.utils.clip_text import load_clip_text_encoder
        if self.text_encoder_path is None:
            from transformers import CLIPTextConfig, CLIPTextModel
            cfg = CLIPTextConfig(hidden_size=self.embed_dim,
                                 **_stand_in_sizes(self.embed_dim))
            state = torch.random.get_rng_state()
            torch.manual_seed(self.seed)
            try:
                model = CLIPTextModel(cfg)
            finally:
                torch.random.set_rng_state(state)
            model = _HFTokenFeatures(model)
            width, length = self.embed_dim, cfg.max_position_embeddings
        else:
            path = osp.expanduser(str(self.text_encoder_path))
            model, _ = load_clip_text_encoder(
                path, backend=self.backend, tokenizer='open_clip',
                open_clip_model=self.open_clip_model)
            width, length = model.width, model.context_length
        if width != self.embed_dim:
            raise ValueError(
                f'The CLIP text encoder "{self.text_encoder_path}" has width '
                f'{width}, but embed_dim={self.embed_dim} (the UNet\'s '
                'cross-attention width): use a CLIP ViT-L/14 text model for '
                'SD1.5.')
        if length < self.token_length:
            raise ValueError(
                f'token_length={self.token_length} is longer than the text '
                f'encoder\'s {length} positions ("{self.text_encoder_path}")')
        model.requires_grad_(False)
        model.eval()
        frozen.model = model
        frozen.width, frozen.context_length = width, length
        return frozen

    @property
    def tokenizer(self):
        """The CLIP tokenizer (no model weights needed).

        A verified transformers tokenizer found next to ``text_encoder``, or
        open_clip's bundled one (same ids; see
        :func:`vpd.utils.clip_text.load_clip_tokenizer`), padding with EOS
        as the official tokenizer does (``pad_token`` = ``<|endoftext|>``;
        open_clip itself pads with 0).
        """
        frozen = self._frozen
        if frozen.tokenizer is None:
            from vpd.utils.clip_text import load_clip_tokenizer
            path = self.text_encoder_path
            kind = self.tokenizer_kind
            if path is None:
                path, kind = None, 'open_clip'
            else:
                path = osp.expanduser(str(path))
            tok = load_clip_tokenizer(path, tokenizer=kind,
                                      context_length=self.token_length)
            tok.pad_token_id = tok.eos_token_id
            frozen.tokenizer = tok
        return frozen.tokenizer

    def tokenize(self, texts: Sequence[str],
                 names: Optional[Sequence[str]] = None) -> torch.Tensor:
        """Token ids ``[N, token_length]`` as the official dataset makes them.

        Args:
            texts (Sequence[str]): Sentences.
            names (Sequence[str], optional): How to name each sentence in
                errors (e.g. its image and ref id).

        Returns:
            Tensor: int64 ids, padded with EOS.
        """
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                where = f' ({names[i]})' if names else ''
                raise ValueError(
                    f'Sentence {i}{where} is empty: {text!r}. A referring '
                    'model needs a non-empty sentence per image.')
        tok = self.tokenizer
        if not self.truncate:
            for i, text in enumerate(texts):
                n = len(tok.encode(text)) + 2
                if n > self.token_length:
                    where = f' ({names[i]})' if names else ''
                    raise ValueError(
                        f'Sentence {i}{where} has {n} tokens with BOS/EOS, '
                        f'more than token_length={self.token_length}: '
                        f'"{text[:80]}". Shorten it or set truncate=True.')
        return tok(texts, context_length=self.token_length)

    @torch.no_grad()
    def encode_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """CLIP features ``[N, L, D]`` (float32, on the CPU) of token ids.

        Uses the feature file and the in-memory cache when they hold a
        sentence; encodes the rest with the text model.
        """
        out: List[Optional[torch.Tensor]] = []
        missing = []
        for i, row in enumerate(input_ids):
            key = row.numpy().tobytes()
            feat = self._cache.get(key)
            if feat is not None:
                self._cache.move_to_end(key)
            elif self._file_index is not None and key in self._file_index:
                feat = self._read_file_row(self._file_index[key])
            if feat is None:
                missing.append(i)
            out.append(feat)
        if missing:
            model = self.load_text_encoder().model
            device = self.gamma.device  # follow the model (cpu / cuda)
            if _device_of(model) != device:
                model.to(device)
            ids = input_ids[missing].to(device)
            feats = model.token_features(ids).float().cpu()
            for j, i in enumerate(missing):
                out[i] = feats[j]
        if self.cache_size:
            for row, feat in zip(input_ids, out):
                key = row.numpy().tobytes()
                self._cache[key] = feat
                self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return torch.stack(out)

    def encode_sentences(self, texts: Sequence[str],
                         names: Optional[Sequence[str]] = None
                         ) -> torch.Tensor:
        """CLIP features ``[N, L, D]`` of sentences (before the adapter)."""
        return self.encode_ids(self.tokenize(texts, names))

    # ------------------------------------------------------------------
    # precomputed features
    # ------------------------------------------------------------------
    def _open_feature_file(self, path: str) -> None:
        from safetensors import safe_open
        path = osp.expanduser(path)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'feature_file "{path}" does not exist; make it with '
                'tools/misc/make_refer_text_features.py')
        handle = safe_open(path, framework='pt', device='cpu')
        keys = set(handle.keys())
        if not {'input_ids', 'features'} <= keys:
            raise ValueError(f'feature_file "{path}" must hold "input_ids" '
                             f'[N, L] and "features" [N, L, D]; found '
                             f'{sorted(keys)}')
        ids = handle.get_tensor('input_ids')
        shape = handle.get_slice('features').get_shape()
        if (ids.ndim != 2 or len(shape) != 3 or shape[0] != ids.shape[0]
                or shape[1] != self.token_length or ids.shape[1] !=
                self.token_length or shape[2] != self.embed_dim):
            raise ValueError(
                f'feature_file "{path}" holds input_ids {tuple(ids.shape)} '
                f'and features {tuple(shape)}; expected [N, '
                f'{self.token_length}] and [N, {self.token_length}, '
                f'{self.embed_dim}] (token_length, embed_dim of the config)')
        self._file_handle = handle
        self._file_index = {
            row.numpy().tobytes(): i for i, row in enumerate(ids.long())
        }

    def _read_file_row(self, index: int) -> torch.Tensor:
        return self._file_handle.get_slice('features')[index].float()

    # ------------------------------------------------------------------
    def texts_of(self, data_samples: Optional[Sequence]) -> List[str]:
        """The ``text`` metainfo of every sample (error if absent)."""
        if not data_samples:
            raise ValueError(
                'SentenceConditioner needs data samples carrying the '
                'referring sentence (metainfo "text"); got none. Add "text" '
                'to PackSegInputs meta_keys, or use vpd.apis.inference_model'
                '(model, img, text=...).')
        texts = []
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo if hasattr(sample, 'metainfo') else sample
            if 'text' not in meta:
                raise KeyError(
                    f'Sample {i} ({meta.get("img_path", "?")}) has no '
                    '"text" metainfo: the referring sentence. Add "text" to '
                    'PackSegInputs meta_keys.')
            texts.append(meta['text'])
        return texts

    def forward(self, batch_size: int,
                data_samples: Optional[Sequence] = None) -> dict:
        """Build the context of a batch.

        Args:
            batch_size (int): B.
            data_samples (list): B samples whose metainfo has ``text``.

        Returns:
            dict: ``context`` ``[B, token_length, embed_dim]``.
        """
        texts = self.texts_of(data_samples)
        if len(texts) != batch_size:
            raise ValueError(f'{len(texts)} sentences for a batch of '
                             f'{batch_size} images')
        names = [
            'image {}, ref {}'.format(
                s.metainfo.get('img_path', '?'),
                s.metainfo.get('ref_id', '?')) if hasattr(s, 'metainfo')
            else '' for s in data_samples
        ]
        feats = self.encode_sentences(texts, names)
        feats = feats.to(device=self.gamma.device, dtype=self.gamma.dtype)
        return dict(context=self.text_adapter(feats, self.gamma))


class _HFTokenFeatures(nn.Module):
    """``CLIPTextModel`` -> ``last_hidden_state`` (the stand-in's wrapper)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def token_features(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids).last_hidden_state


def _device_of(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover - models have weights
        return torch.device('cpu')
