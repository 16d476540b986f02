"""Download a checkpoint by model-zoo name or URL, resumably and verified.

Examples::

    python tools/download.py --list
    python tools/download.py sd-v1-5
    python tools/download.py https://host/path/model.pth --dir checkpoints \\
        --sha256 0123...cdef
    # download + convert an official release into this project's format
    python tools/download.py vpd-depth-nyu --convert
    python tools/download.py https://host/official.pth --convert \\
        --config configs/vpd/vpd_sd15_8xb3-25e_nyu-480x480.py

Files go to ``--dir`` (default: ``$VPD_CACHE_DIR`` or
``~/.cache/vpd/checkpoints``); configs that name ``checkpoints/<file>``
find a file of the cache (``vpd.apis.resolve_config_paths``, called by the
tools), so ``python tools/download.py sd-v1-5`` is all the SD configs need. An interrupted download resumes from its
``.part`` file when run again. Prints the final path on stdout (with
``--convert``: the converted file's).

``--convert`` runs ``tools/model_converters/official_to_vpd.py`` on the
downloaded file for the config of its model-zoo entry (or ``--config``) and
writes ``<name>_vpd.pth`` (or ``--out``) next to it. The conversion is
optional: ``tools/test.py``, ``vpd.apis.init_model`` and
``tools/inference.py`` also convert official files on the fly.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
import urllib.parse
from typing import List, Optional

from vpd.utils.download import (DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT,
                                DownloadError, download_file, manual_hint)
from vpd.utils.model_zoo import MODEL_ZOO, default_cache_dir, zoo_entry


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Download a checkpoint (model-zoo name or URL).')
    parser.add_argument('name', nargs='?', help='model-zoo name or URL')
    parser.add_argument('--dir', default=None,
                        help='target folder (default: $VPD_CACHE_DIR or '
                        '~/.cache/vpd/checkpoints)')
    parser.add_argument('--sha256', default=None,
                        help='expected sha256 (overrides the zoo value)')
    parser.add_argument('--timeout', type=float, default=DEFAULT_TIMEOUT,
                        help='seconds a read may stall (default: '
                        '%(default)s)')
    parser.add_argument('--connect-timeout', type=float,
                        default=DEFAULT_CONNECT_TIMEOUT,
                        help='seconds to wait for the server to answer '
                        '(default: %(default)s)')
    parser.add_argument('--list', action='store_true',
                        help='list the model-zoo names and exit')
    parser.add_argument('--convert', action='store_true',
                        help='convert the downloaded official checkpoint '
                        'into this project\'s format')
    parser.add_argument('--config', default=None,
                        help='with --convert: config of the target model '
                        '(default: the model-zoo entry\'s)')
    parser.add_argument('--out', default=None,
                        help='with --convert: output file (.pth or '
                        '.safetensors; default: <name>_vpd.pth next to the '
                        'download)')
    parser.add_argument('--cfg-options', nargs='+', default=None,
                        help='with --convert: config overrides, passed to '
                        'the converter')
    args = parser.parse_args(argv)
    if not args.list and not args.name:
        parser.error('give a model-zoo name or a URL (or --list)')
    if not args.convert and (args.config or args.out or args.cfg_options):
        parser.error('--config, --out and --cfg-options need --convert')
    return args


#: Zoo formats that are not task checkpoints (nothing to convert).
_NOT_CONVERTIBLE = ('ldm', 'class-embeddings')


def convert_download(path: str, fmt: Optional[str], config: Optional[str],
                     out: Optional[str],
                     cfg_options: Optional[List[str]]) -> Optional[str]:
    """Convert a downloaded official checkpoint; None on failure.

    Args:
        path (str): The downloaded file.
        fmt (str, optional): Its model-zoo format (None for a URL: detected
            from the keys).
        config (str, optional): Config of the target model; relative paths
            are tried against the current folder, then the repository.
        out (str, optional): Output file.
        cfg_options (list[str], optional): ``key=value`` overrides.

    Returns:
        str | None: The converted file, or None (error printed).
    """
    if fmt in _NOT_CONVERTIBLE:
        print(f'error: --convert: "{osp.basename(path)}" is a {fmt} file, '
              'not a task checkpoint; it is used as it is', file=sys.stderr)
        return None
    if not config:
        print('error: --convert needs --config CONFIG (the model the '
              'checkpoint belongs to)', file=sys.stderr)
        return None
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    if not osp.isfile(config) and osp.isfile(osp.join(repo, config)):
        config = osp.join(repo, config)
    dst = out or osp.splitext(path)[0] + '_vpd.pth'
    sys.path.insert(0, osp.join(repo, 'tools', 'model_converters'))
    try:
        import official_to_vpd
    finally:
        sys.path.pop(0)
    argv = [config, path, dst]
    if fmt:
        argv += ['--source', fmt]
    if cfg_options:
        argv += ['--cfg-options', *cfg_options]
    if official_to_vpd.main(argv) != 0:
        return None
    return dst


def _size(num: Optional[int]) -> str:
    if not num:
        return '?'
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if num < 1024 or unit == 'GiB':
            return f'{num:.0f} {unit}' if unit == 'B' else \
                f'{num:.1f} {unit}'
        num /= 1024
    return '?'


def print_zoo_table(file=None) -> None:
    """Print the model zoo as a table: name, size, format, what it is for.

    Args:
        file (file-like, optional): Where to print; defaults to stdout.
    """
    rows = [('name', 'size', 'format', 'what it is for')]
    for name in sorted(MODEL_ZOO):
        entry = MODEL_ZOO[name]
        how = '' if entry['url'] else ' [by hand]'
        rows.append((name, _size(entry.get('size')), entry['format'],
                     (entry.get('purpose') or '') + how))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for i, row in enumerate(rows):
        print('  '.join(c.ljust(w) for c, w in zip(row, widths)) + '  '
              + row[3], file=file)
        if i == 0:
            print('  '.join('-' * w for w in widths) + '  '
                  + '-' * len(row[3]), file=file)
    print(f'\nFiles go to {default_cache_dir()} ($VPD_CACHE_DIR, or --dir);'
          '\nconfigs that name checkpoints/<file> find them there.\n'
          '"?": size not published. [by hand]: no direct URL; '
          '"python tools/download.py NAME" names the page.', file=file)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        int: Exit status (0 on success).
    """
    args = parse_args(argv)
    if args.list:
        print_zoo_table()
        return 0

    target_dir = osp.abspath(osp.expanduser(args.dir or default_cache_dir()))
    fmt, config = None, args.config
    if args.name in MODEL_ZOO:
        entry = zoo_entry(args.name)
        fmt = entry['format']
        config = config or entry.get('config')
        if args.cfg_options is None and entry.get('cfg_options'):
            args.cfg_options = list(entry['cfg_options'])
        url, filename = entry['url'], entry['filename']
        sha256 = args.sha256 or entry['sha256']
        placed = osp.join(target_dir, filename)
        if url is None and not (args.convert and osp.isfile(placed)):
            # (a file placed by hand, e.g. from Google Drive, is converted)
            page = entry.get('page')
            print(f'error: the model zoo has no download URL for '
                  f'"{args.name}"; place the file by hand at\n  '
                  f'{osp.join(target_dir, filename)}'
                  + (f'\n(get it from {page})' if page else ''),
                  file=sys.stderr)
            return 1
    else:
        url, sha256 = args.name, args.sha256
        filename = osp.basename(urllib.parse.urlparse(url).path)
        if not filename:
            print(f'error: "{args.name}" is neither a model-zoo name '
                  f'({", ".join(sorted(MODEL_ZOO))}) nor a URL ending in a '
                  'file name', file=sys.stderr)
            return 1
    dest = path = osp.join(target_dir, filename)
    try:
        if url is not None:
            path = download_file(url, dest, sha256=sha256,
                                 timeout=args.timeout,
                                 connect_timeout=args.connect_timeout)
    except (ValueError, DownloadError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'\ninterrupted; run again to resume.\n'
              f'{manual_hint(url, dest, sha256)}', file=sys.stderr)
        return 130
    if fmt in _NOT_CONVERTIBLE and osp.normpath(target_dir) == osp.normpath(
            default_cache_dir()):
        print(f'configs that name checkpoints/{filename} use this file',
              file=sys.stderr)
    if args.convert:
        path = convert_download(path, fmt, config, args.out,
                                args.cfg_options)
        if path is None:
            return 1
    print(path)
    return 0


if __name__ == '__main__':
    from vpd.utils.cli import run_tool
    run_tool(main)
