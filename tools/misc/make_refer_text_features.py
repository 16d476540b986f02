"""Precompute the frozen CLIP features of every sentence of a refer config.

::

    python tools/misc/make_refer_text_features.py CONFIG OUT.safetensors \\
        [--splits train val] [--half] [--batch-size 64] [--cfg-options ...]

The text encoder of VPD referring segmentation is frozen, so the features
of a sentence never change. This encodes the sentences of the config's
datasets once, with the config's ``SentenceConditioner`` (its text encoder,
tokenizer and ``token_length``), and writes ``input_ids`` ``[N, L]``
(int64) and ``features`` ``[N, L, D]`` (float32, or float16 with
``--half``) as a ``.safetensors`` file, atomically. Point the config at it::

    --cfg-options model.conditioner.feature_file=OUT.safetensors

and training skips the CLIP forward for every sentence in the file (rows
are read memory-mapped). Size: N x L x D x 4 bytes (2 with ``--half``),
e.g. RefCOCO train (about 120k sentences, L = 40): 14.7 GB, 7.4 GB half
(the features are computed in memory before writing).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    from vpd.utils.cli import CfgOptionsAction
    parser = argparse.ArgumentParser(
        description='Precompute the CLIP features of the sentences of a '
        'referring-segmentation config (SentenceConditioner feature_file).')
    parser.add_argument('config', help='a configs/vpd/vpd_sd15-lavt_* or '
                        'quickstart refer config')
    parser.add_argument('out', help='output .safetensors file')
    parser.add_argument('--splits', nargs='+', default=['train'],
                        help='dataset splits to encode (default: train)')
    parser.add_argument('--half', action='store_true',
                        help='store float16 features (half the size)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings')
    return parser.parse_args(argv)


def collect_sentences(cfg, splits: Sequence[str]) -> List[str]:
    """Every distinct sentence of the config's REFER dataset in ``splits``.

    Args:
        cfg (Config): The config (its ``train_dataloader.dataset`` names the
            data root, dataset and split_by).
        splits (Sequence[str]): e.g. ``['train', 'val']``.

    Returns:
        list[str]: Sentences in first-seen order.
    """
    import copy

    from vpd.registry import DATASETS
    seen: Dict[str, None] = {}
    for split in splits:
        ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
        ds_cfg.update(split=split, pipeline=[], test_mode=False,
                      check_files=False)
        dataset = DATASETS.build(ds_cfg)
        for i in range(len(dataset)):
            for sent in dataset.get_data_info(i)['sentences']:
                seen.setdefault(sent, None)
    return list(seen)


def make_refer_text_features(cfg, out: str,
                             splits: Sequence[str] = ('train', ),
                             half: bool = False, batch_size: int = 64,
                             device: str = 'cpu') -> Dict[str, int]:
    """Encode the sentences and write the feature file (see the module).

    Args:
        cfg (Config): A refer config.
        out (str): Output ``.safetensors`` path.
        splits (Sequence[str]): Splits whose sentences are encoded.
        half (bool): Store float16. Defaults to False.
        batch_size (int): Sentences per CLIP forward. Defaults to 64.
        device (str): Where the text encoder runs. Defaults to 'cpu'.

    Returns:
        dict: ``sentences`` (distinct sentences) and ``rows`` (distinct
        token-id rows written).
    """
    import torch
    from mmengine.utils import ProgressBar

    from vpd.registry import MODELS
    from vpd.utils.checkpoint import save_checkpoint_atomic
    if not out.endswith('.safetensors'):
        raise ValueError(f'OUT must end with .safetensors, got "{out}"')
    cond_cfg = dict(cfg.model.conditioner, feature_file=None, cache_size=0)
    if cond_cfg.get('type') != 'SentenceConditioner':
        raise ValueError('the config\'s model.conditioner is not a '
                         f'SentenceConditioner: {cond_cfg.get("type")}')
    conditioner = MODELS.build(cond_cfg).to(device)
    sentences = collect_sentences(cfg, splits)
    if not sentences:
        raise ValueError(f'no sentences in splits {list(splits)}')
    ids = conditioner.tokenize(sentences)
    ids = torch.unique(ids, dim=0)  # truncation can merge sentences
    bar = ProgressBar(len(ids))
    feats = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        feat = conditioner.encode_ids(chunk)
        feats.append(feat.half() if half else feat.float())
        bar.update(len(chunk))
    bar.file.write('\n')
    save_checkpoint_atomic(
        dict(input_ids=ids.contiguous(),
             features=torch.cat(feats).contiguous()), out,
        metadata=dict(token_length=str(conditioner.token_length),
                      text_encoder=str(conditioner.text_encoder_path),
                      splits=','.join(splits)))
    return dict(sentences=len(sentences), rows=len(ids))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool."""
    args = parse_args(argv)
    from vpd.utils import register_all_modules
    from vpd.engine.config_check import load_config
    cfg = load_config(args.config, args.cfg_options)
    register_all_modules(init_default_scope=True)
    stats = make_refer_text_features(cfg, args.out, args.splits, args.half,
                                     args.batch_size, args.device)
    print(f'Wrote {args.out}: {stats["rows"]} token rows for '
          f'{stats["sentences"]} distinct sentences of {args.splits}')
    return 0


if __name__ == '__main__':
    from vpd.utils.cli import run_tool
    run_tool(main)
