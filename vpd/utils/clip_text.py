"""Offline CLIP text encoding and class-embedding recipes of VPD.

VPD conditions the Stable Diffusion UNet on fixed CLIP ViT-L/14 text
features, stored as a ``[num_classes, 768]`` float tensor:

* ``mode='seg'`` (ADE20K ``class_embeddings.pth``): one prompt per class,
  ``"a photo of a {name}"``, encoded to the *pooled EOS feature*, unnormalised.
* ``mode='depth'`` (NYUv2 ``nyu_class_embeddings.pth``): every scene name is
  put into the 80 ImageNet prompt templates of CLIP; the 80 pooled EOS
  features are averaged.  The official dump script averages the raw features:
  no L2 normalisation before or after the mean (the released file confirms
  it: its rows have norms of about 21-23, while single pooled features of
  CLIP ViT-L/14 have norms of about 28).

The *pooled EOS feature* is what transformers calls ``pooler_output`` of
``CLIPTextModel``: the hidden state after the final layer norm, taken at the
(first) end-of-text token, **before** the text projection.  For an open_clip
model it is the same quantity (``ln_final`` output at the EOS token, before
``text_projection``).

Everything here works offline: weights come from a local folder or file
only, and the tokenizer is open_clip's ``SimpleTokenizer`` (its BPE
vocabulary ships inside the wheel and gives the same ids as OpenAI CLIP's
tokenizer) unless a local transformers tokenizer is found and verified to
give the same ids.  Nothing is ever downloaded.

Typical use::

    model, tokenizer = load_clip_text_encoder('/ckpt/clip-vit-large-patch14')
    emb = build_class_embeddings(get_class_names('nyu'), model, tokenizer,
                                 mode='depth')   # [27, 768]
"""
from __future__ import annotations

import json
import os
import os.path as osp
import re
import warnings
import zipfile
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = [
    'IMAGENET_TEMPLATES', 'SEG_TEMPLATE', 'NYU_SCENE_CLASSES',
    'CLASS_SETS', 'DEFAULT_MODES', 'MODES', 'BACKENDS',
    'ClipTokenizer', 'ClipTextEncoder', 'load_clip_text_encoder',
    'load_clip_tokenizer', 'encode_texts', 'build_prompts',
    'build_class_embeddings', 'get_class_names', 'read_class_file',
]

#: The 80 ImageNet prompt templates of CLIP (Radford et al. 2021, "Prompt
#: engineering and ensembling" notebook), in their original order.  VPD's
#: NYUv2 scene embeddings average the features of all of them.
IMAGENET_TEMPLATES: Tuple[str, ...] = (
    'a bad photo of a {}.',
    'a photo of many {}.',
    'a sculpture of a {}.',
    'a photo of the hard to see {}.',
    'a low resolution photo of the {}.',
    'a rendering of a {}.',
    'graffiti of a {}.',
    'a bad photo of the {}.',
    'a cropped photo of the {}.',
    'a tattoo of a {}.',
    'the embroidered {}.',
    'a photo of a hard to see {}.',
    'a bright photo of a {}.',
    'a photo of a clean {}.',
    'a photo of a dirty {}.',
    'a dark photo of the {}.',
    'a drawing of a {}.',
    'a photo of my {}.',
    'the plastic {}.',
    'a photo of the cool {}.',
    'a close-up photo of a {}.',
    'a black and white photo of the {}.',
    'a painting of the {}.',
    'a painting of a {}.',
    'a pixelated photo of the {}.',
    'a sculpture of the {}.',
    'a bright photo of the {}.',
    'a cropped photo of a {}.',
    'a plastic {}.',
    'a photo of the dirty {}.',
    'a jpeg corrupted photo of a {}.',
    'a blurry photo of the {}.',
    'a photo of the {}.',
    'a good photo of the {}.',
    'a rendering of the {}.',
    'a {} in a video game.',
    'a photo of one {}.',
    'a doodle of a {}.',
    'a close-up photo of the {}.',
    'a photo of a {}.',
    'the origami {}.',
    'the {} in a video game.',
    'a sketch of a {}.',
    'a doodle of the {}.',
    'a origami {}.',
    'a low resolution photo of a {}.',
    'the toy {}.',
    'a rendition of the {}.',
    'a photo of the clean {}.',
    'a photo of a large {}.',
    'a rendition of a {}.',
    'a photo of a nice {}.',
    'a photo of a weird {}.',
    'a blurry photo of a {}.',
    'a cartoon {}.',
    'art of a {}.',
    'a sketch of the {}.',
    'a embroidered {}.',
    'a pixelated photo of a {}.',
    'itap of the {}.',
    'a jpeg corrupted photo of the {}.',
    'a good photo of a {}.',
    'a plushie {}.',
    'a photo of the nice {}.',
    'a photo of the small {}.',
    'a photo of the weird {}.',
    'the cartoon {}.',
    'art of the {}.',
    'a drawing of the {}.',
    'a photo of the large {}.',
    'a black and white photo of a {}.',
    'the plushie {}.',
    'a dark photo of a {}.',
    'itap of a {}.',
    'graffiti of the {}.',
    'a toy {}.',
    'itap of my {}.',
    'a photo of a cool {}.',
    'a photo of a small {}.',
    'a tattoo of the {}.',
)

#: The single prompt of VPD's semantic-segmentation class embeddings.
SEG_TEMPLATE = 'a photo of a {}'

#: The 27 NYUv2 scene classes in VPD's official order (the row order of
#: ``nyu_class_embeddings.pth``).  Spelled as the folder names of the NYUv2
#: official splits (underscores, and the dataset's own "excercise" typo) so
#: that they can be matched against file paths; prompts use spaces instead.
#: In VPD a sample's scene id is the index of the *first* name in this order
#: that occurs anywhere in its file name, so "study_room_*" files get the id
#: of "study" and "office_kitchen_*" files that of "kitchen" (mmseg's port
#: differs there).
NYU_SCENE_CLASSES: Tuple[str, ...] = (
    'printer_room', 'bathroom', 'living_room', 'study', 'conference_room',
    'study_room', 'kitchen', 'home_office', 'bedroom', 'dinette', 'playroom',
    'indoor_balcony', 'laundry_room', 'basement', 'excercise_room', 'foyer',
    'home_storage', 'cafe', 'furniture_store', 'office_kitchen',
    'student_lounge', 'dining_room', 'reception_room', 'computer_lab',
    'classroom', 'office', 'bookstore',
)

#: Built-in class sets accepted by :func:`get_class_names`.
CLASS_SETS: Tuple[str, ...] = ('nyu', 'ade20k', 'cityscapes')
#: The recipe each built-in class set was made with in VPD.
DEFAULT_MODES = {'nyu': 'depth', 'ade20k': 'seg', 'cityscapes': 'seg'}
MODES: Tuple[str, ...] = ('depth', 'seg')
BACKENDS: Tuple[str, ...] = ('auto', 'transformers', 'open_clip')

#: The OpenAI CLIP ViT-L/14 architecture in open_clip (QuickGELU, as trained
#: by OpenAI and used by Stable Diffusion 1.x and VPD).
DEFAULT_OPEN_CLIP_MODEL = 'ViT-L-14-quickgelu'

_HF_WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin',
                    'model.safetensors.index.json',
                    'pytorch_model.bin.index.json')
_CKPT_SUFFIXES = ('.pt', '.pth', '.bin', '.safetensors', '.ckpt')
_TOKENIZER_PROBES = (
    'a photo of a cat.',
    'A Black-and-White photo of the excercise_room, 3 chairs!',
    'the origami {}. itap of my living room',
)
_HUB_ID_RE = re.compile(r'^[A-Za-z0-9][\w.\-]*/[\w.\-]+$')

_WHAT_TO_PASS = (
    'Pass a LOCAL path (nothing is downloaded): either a transformers CLIP '
    'folder (config.json + model.safetensors or pytorch_model.bin, e.g. a '
    'copy of openai/clip-vit-large-patch14 or the text_encoder/ folder of '
    'Stable Diffusion v1.5; a Stable Diffusion pipeline folder with a '
    'text_encoder/ subfolder also works), an open_clip folder '
    '(open_clip_config.json + open_clip_pytorch_model.bin or '
    '.safetensors), or a single open_clip/OpenAI checkpoint file (e.g. '
    'OpenAI\'s ViT-L-14.pt).')


# ---------------------------------------------------------------------------
# Class names
# ---------------------------------------------------------------------------
def get_class_names(name: str) -> List[str]:
    """Return the class names of a built-in class set.

    Args:
        name (str): ``'nyu'`` (27 NYUv2 scene classes, VPD order),
            ``'ade20k'`` (150 classes) or ``'cityscapes'`` (19 classes); the
            latter two are read from mmseg's dataset ``METAINFO``.

    Returns:
        list[str]: The class names, in label order.
    """
    key = name.lower().replace('-', '').replace('_', '')
    if key in ('nyu', 'nyuv2', 'nyudepthv2'):
        return list(NYU_SCENE_CLASSES)
    if key in ('ade20k', 'ade'):
        from mmseg.datasets import ADE20KDataset
        return list(ADE20KDataset.METAINFO['classes'])
    if key == 'cityscapes':
        from mmseg.datasets import CityscapesDataset
        return list(CityscapesDataset.METAINFO['classes'])
    raise ValueError(f'Unknown class set "{name}"; expected one of '
                     f'{CLASS_SETS}, or pass your own names.')


def read_class_file(path: str) -> List[str]:
    """Read class names from a text file, one name per line.

    Surrounding whitespace is stripped; blank lines and lines starting with
    ``#`` are skipped.

    Args:
        path (str): The text file.

    Returns:
        list[str]: The class names in file order.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Class file "{path}" does not exist; expected a UTF-8 text file '
            'with one class name per line.')
    with open(path, encoding='utf-8') as f:
        names = [line.strip() for line in f]
    names = [n for n in names if n and not n.startswith('#')]
    if not names:
        raise ValueError(f'Class file "{path}" contains no class names; '
                         'expected one class name per line.')
    return names


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------
_OPEN_CLIP_TOKENIZER = None


def _open_clip_simple_tokenizer():
    """Return a cached open_clip ``SimpleTokenizer`` (bundled BPE, offline)."""
    global _OPEN_CLIP_TOKENIZER
    if _OPEN_CLIP_TOKENIZER is None:
        try:
            from open_clip.tokenizer import SimpleTokenizer
        except ImportError as e:
            raise ImportError(
                'open_clip_torch is needed for the offline CLIP tokenizer '
                '(pip install open_clip_torch), unless the CLIP folder '
                'also holds a working transformers tokenizer.') from e
        _OPEN_CLIP_TOKENIZER = SimpleTokenizer()
    return _OPEN_CLIP_TOKENIZER


class ClipTokenizer:
    """CLIP BPE tokenizer returning fixed-length id tensors.

    Wraps either open_clip's ``SimpleTokenizer`` or a local transformers
    ``CLIPTokenizer``; both produce ``[BOS] + bpe(text) + [EOS]`` followed by
    padding, truncated to ``context_length`` with EOS kept as the last token.
    The padding id does not matter for the pooled EOS feature (the CLIP text
    transformer is causal, so tokens after EOS never influence it).

    Args:
        backend (str): ``'open_clip'`` or ``'transformers'``.
        hf_tokenizer: The transformers tokenizer (``backend='transformers'``
            only).
        context_length (int): Default padded length. Defaults to 77.
    """

    def __init__(self, backend: str = 'open_clip', hf_tokenizer=None,
                 context_length: int = 77) -> None:
        if backend not in ('open_clip', 'transformers'):
            raise ValueError(f'Unknown tokenizer backend "{backend}"; '
                             'expected "open_clip" or "transformers".')
        self.backend = backend
        self.context_length = int(context_length)
        self.source = 'open_clip (bundled BPE vocabulary)'
        if backend == 'open_clip':
            tok = _open_clip_simple_tokenizer()
            self._encode: Callable[[str], List[int]] = tok.encode
            self.bos_token_id = int(tok.sot_token_id)
            self.eos_token_id = int(tok.eot_token_id)
            self.pad_token_id = 0
        else:
            if hf_tokenizer is None:
                raise ValueError('backend="transformers" needs hf_tokenizer.')
            self._hf = hf_tokenizer
            self._encode = lambda text: list(
                hf_tokenizer(text, add_special_tokens=False)['input_ids'])
            self.bos_token_id = int(hf_tokenizer.bos_token_id)
            self.eos_token_id = int(hf_tokenizer.eos_token_id)
            pad = hf_tokenizer.pad_token_id
            self.pad_token_id = int(self.eos_token_id if pad is None else pad)
            self.source = ('transformers ' + type(hf_tokenizer).__name__ +
                           ' from ' + str(getattr(hf_tokenizer,
                                                  'name_or_path', '?')))

    def encode(self, text: str) -> List[int]:
        """BPE ids of ``text`` without BOS/EOS and without truncation."""
        return list(self._encode(text))

    def __call__(self, texts, context_length: Optional[int] = None,
                 warn_truncation: bool = True) -> torch.Tensor:
        """Tokenize texts into a ``LongTensor[N, context_length]``.

        Args:
            texts (str | Sequence[str]): The texts.
            context_length (int, optional): Padded length; defaults to
                ``self.context_length``.
            warn_truncation (bool): Warn when a text is longer than the
                context and gets truncated. Defaults to True.

        Returns:
            torch.Tensor: Token ids, ``int64``.
        """
        if isinstance(texts, str):
            texts = [texts]
        length = int(context_length or self.context_length)
        if length < 2:
            raise ValueError(f'context_length must be >= 2, got {length}.')
        out = torch.full((len(texts), length), self.pad_token_id,
                         dtype=torch.long)
        truncated = []
        for i, text in enumerate(texts):
            ids = [self.bos_token_id] + self.encode(text) + [self.eos_token_id]
            if len(ids) > length:
                truncated.append(text)
                ids = ids[:length - 1] + [self.eos_token_id]
            out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        if truncated and warn_truncation:
            warnings.warn(
                f'{len(truncated)} text(s) are longer than {length} tokens '
                f'and were truncated, e.g. "{truncated[0][:80]}".')
        return out


def _find_hf_tokenizer_dirs(model_dir: str) -> List[str]:
    """Folders next to a transformers CLIP model that may hold a tokenizer."""
    candidates = [model_dir, osp.join(model_dir, 'tokenizer'),
                  osp.join(osp.dirname(osp.abspath(model_dir)), 'tokenizer')]
    found = []
    for d in candidates:
        if not osp.isdir(d) or d in found:
            continue
        has_bpe = (osp.isfile(osp.join(d, 'vocab.json'))
                   and osp.isfile(osp.join(d, 'merges.txt')))
        if has_bpe or osp.isfile(osp.join(d, 'tokenizer.json')):
            found.append(d)
    return found


def _try_local_hf_tokenizer(model_dir: str, context_length: int
                            ) -> Optional[ClipTokenizer]:
    """Load and verify a local transformers tokenizer, or return None.

    A tokenizer is accepted only if it encodes a few probe sentences to the
    same ids as open_clip's bundled tokenizer (or, when open_clip is not
    installed, if it at least has CLIP's vocabulary size and BOS/EOS ids).
    This rejects e.g. vocabularies whose special tokens are spelled
    differently or degenerate vocabularies (every id the same).
    """
    for d in _find_hf_tokenizer_dirs(model_dir):
        try:
            from transformers import CLIPTokenizer
            hf = CLIPTokenizer.from_pretrained(d, local_files_only=True)
            cand = ClipTokenizer('transformers', hf, context_length)
        except Exception as e:  # noqa: BLE001 - any failure: try the next
            warnings.warn(f'Ignoring the tokenizer files in "{d}": they do '
                          f'not load as a CLIP tokenizer ({e}).')
            continue
        try:
            ref = ClipTokenizer('open_clip', context_length=context_length)
        except ImportError:
            ref = None
        if ref is not None:
            try:
                ok = all(
                    torch.equal(_replace_pad(cand(p), cand, ref), ref(p))
                    for p in _TOKENIZER_PROBES)
            except ValueError:  # e.g. no EOS id in its output
                ok = False
        else:
            ok = (len(hf) >= 49408 and cand.bos_token_id == 49406
                  and cand.eos_token_id == 49407)
        if ok:
            return cand
        warnings.warn(f'Ignoring the tokenizer in "{d}": it does not give '
                      'the CLIP token ids; using open_clip\'s bundled '
                      'tokenizer instead.')
    return None


def _replace_pad(ids: torch.Tensor, cand: ClipTokenizer,
                 ref: ClipTokenizer) -> torch.Tensor:
    """Map ``cand``'s padding to ``ref``'s so ids can be compared."""
    ids = ids.clone()
    eos_pos = _first_eos_index(ids, cand.eos_token_id)
    after = torch.arange(ids.shape[1])[None] > eos_pos[:, None]
    ids[after] = ref.pad_token_id
    return ids


def load_clip_tokenizer(path: Optional[str] = None, tokenizer: str = 'auto',
                        context_length: int = 77) -> ClipTokenizer:
    """Build the tokenizer for a CLIP text encoder, offline.

    Args:
        path (str, optional): The local CLIP model folder; a transformers
            tokenizer is searched in it, in its ``tokenizer/`` subfolder and
            in a sibling ``tokenizer/`` folder (Stable Diffusion layout).
        tokenizer (str): ``'auto'`` (a verified local transformers
            tokenizer if present, else open_clip's bundled one),
            ``'open_clip'`` or ``'transformers'`` (required to be present).
        context_length (int): Padded length. Defaults to 77.

    Returns:
        ClipTokenizer: The tokenizer.
    """
    if tokenizer not in ('auto', 'open_clip', 'transformers'):
        raise ValueError(f'tokenizer must be "auto", "open_clip" or '
                         f'"transformers", got "{tokenizer}".')
    model_dir = None
    if path is not None:
        model_dir = path if osp.isdir(path) else osp.dirname(
            osp.abspath(path))
    if tokenizer in ('auto', 'transformers') and model_dir is not None:
        hf = _try_local_hf_tokenizer(model_dir, context_length)
        if hf is not None:
            return hf
    if tokenizer == 'transformers':
        raise FileNotFoundError(
            f'No working transformers CLIP tokenizer found for "{path}": '
            'expected vocab.json + merges.txt (or tokenizer.json) in the '
            'model folder, its tokenizer/ subfolder or a sibling tokenizer/ '
            'folder. Use tokenizer="open_clip" (works offline).')
    return ClipTokenizer('open_clip', context_length=context_length)


# ---------------------------------------------------------------------------
# Text encoders
# ---------------------------------------------------------------------------
def _first_eos_index(input_ids: torch.Tensor, eos_token_id: int
                     ) -> torch.Tensor:
    """Index of the first EOS token of every row; raises if a row has none."""
    is_eos = input_ids == eos_token_id
    if not bool(is_eos.any(dim=1).all()):
        bad = int((~is_eos.any(dim=1)).nonzero()[0, 0])
        raise ValueError(f'Row {bad} of input_ids has no EOS token '
                         f'(id {eos_token_id}).')
    return is_eos.int().argmax(dim=1)


class ClipTextEncoder(nn.Module):
    """A frozen CLIP text transformer returning pooled EOS features.

    Subclasses implement :meth:`token_features` (final-layer-norm hidden
    states of every token); :meth:`forward` gathers the EOS position.

    Attributes:
        backend (str): ``'transformers'`` or ``'open_clip'``.
        width (int): Feature size D (768 for ViT-L/14).
        context_length (int): Maximum number of tokens.
        source (str): Where the weights were loaded from.
    """

    backend = ''

    def __init__(self, width: int, context_length: int, source: str) -> None:
        super().__init__()
        self.width = int(width)
        self.context_length = int(context_length)
        self.source = source

    def token_features(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Return ``[N, L, D]`` hidden states after the final layer norm.

        Implemented by the two backends, ``_TransformersClipText`` and
        ``_OpenClipText``.
        """
        raise NotImplementedError(
            f'{type(self).__name__} is a ClipTextEncoder subclass without '
            'token_features(); build encoders with load_clip_text_encoder')

    def forward(self, input_ids: torch.Tensor,
                eos_index: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Pooled EOS features ``[N, D]`` (no projection, no normalisation).

        Args:
            input_ids (torch.Tensor): ``[N, L]`` token ids, L <=
                ``context_length``.
            eos_index (torch.Tensor, optional): ``[N]`` EOS positions;
                defaults to the position of the largest id of each row (the
                EOS token in CLIP's vocabulary), as CLIP does.

        Returns:
            torch.Tensor: ``[N, D]``.
        """
        if input_ids.dim() != 2:
            raise ValueError('input_ids must be [N, L], got shape '
                             f'{tuple(input_ids.shape)}.')
        if input_ids.shape[1] > self.context_length:
            raise ValueError(
                f'input_ids has {input_ids.shape[1]} tokens, more than the '
                f'model\'s {self.context_length}.')
        hidden = self.token_features(input_ids)
        if eos_index is None:
            eos_index = input_ids.argmax(dim=1)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return hidden[rows, eos_index.to(hidden.device)]


class _TransformersClipText(ClipTextEncoder):
    """transformers ``CLIPTextModel`` backend."""

    backend = 'transformers'

    def __init__(self, model: nn.Module, source: str) -> None:
        cfg = model.config
        super().__init__(cfg.hidden_size, cfg.max_position_embeddings,
                         source)
        self.model = model

    def token_features(self, input_ids: torch.Tensor) -> torch.Tensor:
        # last_hidden_state is already final_layer_norm'ed; pooler_output is
        # this tensor gathered at the EOS token.
        return self.model(input_ids=input_ids).last_hidden_state


class _OpenClipText(ClipTextEncoder):
    """Text tower of an open_clip ``CLIP`` / ``CustomTextCLIP`` model.

    Only the text modules are kept (the vision tower is dropped).  The
    forward pass is ``encode_text`` without the text projection:
    ``token_embedding + positional_embedding -> transformer (causal mask) ->
    ln_final``; ``text_projection`` is kept as an attribute for reference
    but not applied.
    """

    backend = 'open_clip'

    def __init__(self, clip_model: nn.Module, source: str) -> None:
        tower = getattr(clip_model, 'text', None)
        if tower is not None:  # CustomTextCLIP
            if not hasattr(tower, 'token_embedding'):
                raise ValueError(
                    f'The open_clip model in "{source}" has a '
                    f'{type(tower).__name__} text tower (e.g. a Hugging Face '
                    'text model); only the CLIP text transformer is '
                    'supported. Use a CLIP ViT-L/14 checkpoint.')
            if getattr(tower, 'cls_emb', None) is not None:
                raise ValueError(f'The open_clip model in "{source}" appends '
                                 'a class token (CoCa); not supported.')
            if getattr(tower, 'use_pad_mask', False):
                raise ValueError(f'The open_clip model in "{source}" is a '
                                 'bidirectional text model; not supported.')
        else:  # CLIP: text modules live on the model itself
            tower = clip_model
        super().__init__(tower.ln_final.weight.shape[0],
                         tower.positional_embedding.shape[0], source)
        self.token_embedding = tower.token_embedding
        self.positional_embedding = tower.positional_embedding
        self.transformer = tower.transformer
        self.ln_final = tower.ln_final
        self.text_projection = tower.text_projection
        mask = getattr(tower, 'attn_mask', None)
        if mask is None:
            raise ValueError(f'The open_clip text model in "{source}" has no '
                             'causal mask; only causal CLIP text '
                             'transformers are supported.')
        self.register_buffer('attn_mask', mask, persistent=False)

    def token_features(self, input_ids: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        cast_dtype = self.transformer.get_cast_dtype()
        x = self.token_embedding(input_ids).to(cast_dtype)
        x = x + self.positional_embedding[:length].to(cast_dtype)
        x = self.transformer(x, attn_mask=self.attn_mask[:length, :length])
        return self.ln_final(x)


def _looks_like_hub_id(path: str) -> bool:
    return path.startswith('hf-hub:') or bool(_HUB_ID_RE.match(path))


def _missing_path_error(path: str) -> Exception:
    if _looks_like_hub_id(path):
        return FileNotFoundError(
            f'CLIP text encoder "{path}" is not a local path; it looks like '
            'a model-hub id, but this code runs offline and never downloads. '
            'Download the model elsewhere (e.g. `huggingface-cli download '
            'openai/clip-vit-large-patch14 --local-dir clip-vit-large-'
            'patch14`), copy it here and pass that folder. ' + _WHAT_TO_PASS)
    return FileNotFoundError(f'CLIP text encoder path "{path}" does not '
                             'exist. ' + _WHAT_TO_PASS)


def _is_torchscript_archive(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(n.endswith('/constants.pkl') or '/code/' in n for n in names)


def _resolve_source(path: str, backend: str) -> Tuple[str, str]:
    """Decide how to load ``path``: returns ``(kind, resolved_path)``.

    ``kind`` is ``'hf_dir'``, ``'open_clip_dir'`` or ``'open_clip_file'``.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got '
                         f'"{backend}".')
    path = osp.expanduser(str(path))
    if not osp.exists(path):
        raise _missing_path_error(path)
    if osp.isfile(path):
        if backend == 'transformers':
            raise ValueError(
                f'backend="transformers" needs a folder (config.json + '
                f'weights), but "{path}" is a file. Pass its folder, or use '
                'backend="open_clip" for an open_clip/OpenAI checkpoint.')
        if path.endswith('.json'):
            raise ValueError(f'"{path}" is a json file; pass the folder that '
                             'contains it (and the weights) instead.')
        return 'open_clip_file', path
    # A directory.
    if (backend != 'open_clip'
            and not osp.isfile(osp.join(path, 'config.json'))
            and osp.isfile(osp.join(path, 'text_encoder', 'config.json'))):
        path = osp.join(path, 'text_encoder')  # Stable Diffusion pipeline
    has_hf = osp.isfile(osp.join(path, 'config.json'))
    has_oc = osp.isfile(osp.join(path, 'open_clip_config.json'))
    if backend == 'transformers' or (backend == 'auto' and has_hf):
        if not has_hf:
            raise FileNotFoundError(
                f'"{path}" has no config.json, so it is not a transformers '
                'CLIP folder. ' + _WHAT_TO_PASS)
        if not any(osp.isfile(osp.join(path, f)) for f in _HF_WEIGHT_FILES):
            raise FileNotFoundError(
                f'The transformers folder "{path}" has config.json but no '
                f'weights; expected one of {_HF_WEIGHT_FILES}.')
        return 'hf_dir', path
    if has_oc:
        return 'open_clip_dir', path
    if backend == 'open_clip':
        ckpts = sorted(f for f in os.listdir(path)
                       if f.endswith(_CKPT_SUFFIXES))
        if len(ckpts) == 1:
            return 'open_clip_file', osp.join(path, ckpts[0])
        raise FileNotFoundError(
            f'"{path}" is not an open_clip folder: expected '
            'open_clip_config.json + weights, or exactly one checkpoint file '
            f'(found {ckpts or "none"}).')
    raise FileNotFoundError(
        f'"{path}" is a folder, but neither config.json (transformers) nor '
        'open_clip_config.json (open_clip) is in it. ' + _WHAT_TO_PASS)


def _load_transformers(path: str) -> ClipTextEncoder:
    try:
        with open(osp.join(path, 'config.json'), encoding='utf-8') as f:
            model_type = json.load(f).get('model_type')
    except (OSError, ValueError) as e:
        raise ValueError(f'Cannot read "{osp.join(path, "config.json")}": '
                         f'{e}') from e
    if model_type not in ('clip', 'clip_text_model'):
        raise ValueError(
            f'"{path}/config.json" describes model_type "{model_type}"; '
            'expected a CLIP model ("clip" or "clip_text_model").')
    from transformers import CLIPTextModel
    from transformers.utils import logging as hf_logging

    # A full CLIPModel folder makes transformers print a long table of the
    # (expected) unused vision-tower keys; missing keys are checked below.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = CLIPTextModel.from_pretrained(
            path, local_files_only=True, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(info.get('missing_keys') or [])
    mismatched = list(info.get('mismatched_keys') or [])
    if missing or mismatched:
        more = '...' if len(missing) > 5 else ''
        raise ValueError(
            f'Loading the CLIP text model from "{path}" left weights '
            f'uninitialised (missing: {missing[:5]}{more}, mismatched: '
            f'{mismatched[:5]}); the checkpoint does not match its '
            'config.json.')
    return _TransformersClipText(model.float().eval(), source=path)


def _refuse_torchscript(path: str) -> None:
    """Refuse a TorchScript archive: ``torch.jit.load`` runs its code."""
    raise ValueError(
        f'Refused to load "{path}": it is a TorchScript archive (e.g. '
        "OpenAI's original CLIP release), and loading one runs code stored in "
        'the file (it can, for example, write any file). Use the same '
        'weights as a transformers folder (e.g. openai/clip-vit-large-'
        'patch14, safetensors) or an open_clip state-dict file, or, only if '
        'you trust this file, pass allow_torchscript=True (CLI: '
        '--allow-torchscript).')


def _load_open_clip(kind: str, path: str,
                    open_clip_model: Optional[str],
                    allow_torchscript: bool = False) -> ClipTextEncoder:
    if kind == 'open_clip_file' and not allow_torchscript and \
            _is_torchscript_archive(path):
        _refuse_torchscript(path)
    try:
        import open_clip
    except ImportError as e:
        raise ImportError('Loading an open_clip checkpoint needs '
                          'open_clip_torch (pip install open_clip_torch).'
                          ) from e
    if kind == 'open_clip_dir':
        model = open_clip.create_model('local-dir:' + osp.abspath(path),
                                       device='cpu', precision='fp32')
    elif open_clip_model is None and _is_torchscript_archive(path):
        # OpenAI's original release (e.g. ViT-L-14.pt) is a TorchScript
        # archive; open_clip rebuilds a plain module (QuickGELU) from it.
        model = open_clip.load_openai_model(path, precision='fp32',
                                            device='cpu')
    else:
        arch = open_clip_model or DEFAULT_OPEN_CLIP_MODEL
        try:
            model = open_clip.create_model(arch, pretrained=path,
                                           device='cpu', precision='fp32')
        except Exception as e:  # noqa: BLE001 - re-raised with context
            raise ValueError(
                f'Could not load "{path}" as open_clip architecture '
                f'"{arch}" ({type(e).__name__}: {e}). For another '
                'architecture pass open_clip_model (CLI: --open-clip-model), '
                'e.g. "ViT-L-14" for GELU-trained LAION weights.') from e
    return _OpenClipText(model.float().eval(), source=path)


def load_clip_text_encoder(path: str, backend: str = 'auto',
                           device: str = 'cpu',
                           tokenizer: str = 'auto',
                           open_clip_model: Optional[str] = None,
                           allow_torchscript: bool = False
                           ) -> Tuple[ClipTextEncoder, ClipTokenizer]:
    """Load a local CLIP (ViT-L/14-style) text encoder and its tokenizer.

    Nothing is downloaded: ``path`` must exist locally.  With
    ``backend='auto'`` a folder holding ``config.json`` is loaded with
    transformers' ``CLIPTextModel.from_pretrained(path,
    local_files_only=True)`` (a full ``CLIPModel`` folder, a ``CLIPTextModel``
    folder in either key layout, or a Stable Diffusion pipeline folder via
    its ``text_encoder/``), a folder with ``open_clip_config.json`` through
    open_clip's ``local-dir:`` schema, and a file as an open_clip / OpenAI
    checkpoint.  The model is float32, in eval mode, with gradients off.

    Args:
        path (str): Local folder or checkpoint file.
        backend (str): ``'auto'``, ``'transformers'`` or ``'open_clip'``.
        device (str): Device to put the model on. Defaults to ``'cpu'``.
        tokenizer (str): ``'auto'``, ``'open_clip'`` or ``'transformers'``;
            see :func:`load_clip_tokenizer`.
        open_clip_model (str, optional): open_clip architecture name for a
            checkpoint *file* that is not OpenAI's TorchScript release.
            Defaults to ``'ViT-L-14-quickgelu'`` (OpenAI CLIP ViT-L/14).
        allow_torchscript (bool): Load a TorchScript archive (OpenAI's
            original ``ViT-L-14.pt``) with ``torch.jit.load``, which runs
            code stored in the file; only for files you trust. Defaults to
            False: such a file is refused with a ``ValueError``.

    Returns:
        tuple[ClipTextEncoder, ClipTokenizer]: The model and the tokenizer.
    """
    kind, resolved = _resolve_source(path, backend)
    if kind == 'hf_dir':
        model = _load_transformers(resolved)
    else:
        model = _load_open_clip(kind, resolved, open_clip_model,
                                allow_torchscript)
    model.requires_grad_(False)
    model.eval()
    model.to(device)
    tok = load_clip_tokenizer(resolved, tokenizer=tokenizer,
                              context_length=model.context_length)
    return model, tok


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------
def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from mmengine.utils import ProgressBar
    return ProgressBar(total)


@torch.no_grad()
def encode_texts(model: ClipTextEncoder, tokenizer: ClipTokenizer,
                 texts: Sequence[str], batch_size: int = 64,
                 progress: bool = False) -> torch.Tensor:
    """Pooled EOS features of texts (unnormalised, no projection).

    Args:
        model (ClipTextEncoder): From :func:`load_clip_text_encoder`.
        tokenizer (ClipTokenizer): The matching tokenizer.
        texts (Sequence[str]): The texts.
        batch_size (int): Texts per forward pass. Defaults to 64.
        progress (bool): Show an mmengine progress bar. Defaults to False.

    Returns:
        torch.Tensor: ``float32`` ``[N, D]`` on the CPU.
    """
    if isinstance(texts, str):
        raise TypeError('texts must be a sequence of strings, not one str.')
    texts = list(texts)
    if not texts:
        raise ValueError('texts is empty.')
    if not all(isinstance(t, str) for t in texts):
        raise TypeError('every item of texts must be a str.')
    if int(batch_size) < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}.')
    batch_size = int(batch_size)
    model.eval()
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device('cpu')
    length = min(tokenizer.context_length, model.context_length)
    bar = _progress_bar(len(texts), progress)
    feats = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        ids = tokenizer(chunk, context_length=length)
        eos = _first_eos_index(ids, tokenizer.eos_token_id)
        # The text transformer is causal and its position embeddings are
        # absolute, so padding after the last EOS cannot change any pooled
        # feature: drop it (several times faster than always running 77).
        ids = ids[:, :int(eos.max()) + 1]
        out = model(ids.to(device), eos.to(device))
        feats.append(out.float().cpu())
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.file.write('\n')
        bar.file.flush()
    return torch.cat(feats, dim=0)


def build_prompts(class_names: Sequence[str], mode: str = 'seg',
                  templates: Optional[Sequence[str]] = None
                  ) -> List[List[str]]:
    """The prompts of every class for a recipe.

    Underscores in class names become spaces (VPD does this for the NYU
    scene names, e.g. ``living_room`` -> "living room").

    Args:
        class_names (Sequence[str]): The class names.
        mode (str): ``'depth'`` (80 ImageNet templates) or ``'seg'``
            (``"a photo of a {}"``).
        templates (Sequence[str], optional): Override the templates; each
            must contain one ``{}``.

    Returns:
        list[list[str]]: ``K`` lists of ``T`` prompts.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got "{mode}".')
    if isinstance(class_names, str):
        raise TypeError('class_names must be a sequence of strings.')
    names = [str(n).strip() for n in class_names]
    if not names:
        raise ValueError('class_names is empty.')
    if any(not n for n in names):
        raise ValueError('class_names contains an empty name.')
    if templates is None:
        templates = IMAGENET_TEMPLATES if mode == 'depth' else (SEG_TEMPLATE,)
    templates = list(templates)
    if not templates or any(t.count('{}') != 1 for t in templates):
        raise ValueError('every template must contain exactly one "{}".')
    return [[t.format(n.replace('_', ' ')) for t in templates] for n in names]


def build_class_embeddings(class_names: Sequence[str],
                           model: ClipTextEncoder,
                           tokenizer: ClipTokenizer,
                           mode: str = 'seg',
                           batch_size: int = 64,
                           progress: bool = False,
                           templates: Optional[Sequence[str]] = None
                           ) -> torch.Tensor:
    """VPD class embeddings, ``float32 [K, D]``.

    ``'seg'``: the pooled EOS feature of ``"a photo of a {name}"``,
    unnormalised (VPD's ADE20K ``class_embeddings.pth``).
    ``'depth'``: the mean of the pooled EOS features of the 80 ImageNet
    templates, with no normalisation before or after averaging (VPD's
    ``nyu_class_embeddings.pth``).  VPD's dump script tokenized with
    ``max_length=20``; every built-in name with every template fits in 20
    tokens, so the 77-token context used here gives the same features.

    Args:
        class_names (Sequence[str]): Class names (underscores -> spaces).
        model (ClipTextEncoder): From :func:`load_clip_text_encoder`.
        tokenizer (ClipTokenizer): The matching tokenizer.
        mode (str): ``'depth'`` or ``'seg'``. Defaults to ``'seg'``.
        batch_size (int): Prompts per forward pass. Defaults to 64.
        progress (bool): Show a progress bar. Defaults to False.
        templates (Sequence[str], optional): Override the mode's templates.

    Returns:
        torch.Tensor: ``[K, D]`` float32 on the CPU.
    """
    prompts = build_prompts(class_names, mode, templates)
    num_classes, num_templates = len(prompts), len(prompts[0])
    flat = [p for per_class in prompts for p in per_class]
    feats = encode_texts(model, tokenizer, flat, batch_size=batch_size,
                         progress=progress)
    return feats.view(num_classes, num_templates, -1).mean(dim=1)
