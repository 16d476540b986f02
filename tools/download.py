"""Download a checkpoint by model-zoo name or URL, resumably and verified.

Examples::

    python tools/download.py --list
    python tools/download.py sd-v1-5
    python tools/download.py https://host/path/model.pth --dir checkpoints \\
        --sha256 0123...cdef

Files go to ``--dir`` (default: ``$VPD_CACHE_DIR`` or
``~/.cache/vpd/checkpoints``). An interrupted download resumes from its
``.part`` file when run again. Prints the final path on stdout.
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
    args = parser.parse_args(argv)
    if not args.list and not args.name:
        parser.error('give a model-zoo name or a URL (or --list)')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        int: Exit status (0 on success).
    """
    args = parse_args(argv)
    if args.list:
        for name in sorted(MODEL_ZOO):
            entry = MODEL_ZOO[name]
            where = entry['url'] or (
                f'(by hand from {entry["page"]})' if entry.get('page') else
                '(no URL: place by hand)')
            print(f'{name}\t{entry["filename"]}\t{entry["format"]}\t{where}')
        return 0

    target_dir = osp.abspath(osp.expanduser(args.dir or default_cache_dir()))
    if args.name in MODEL_ZOO:
        entry = zoo_entry(args.name)
        url, filename = entry['url'], entry['filename']
        sha256 = args.sha256 or entry['sha256']
        if url is None:
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
    dest = osp.join(target_dir, filename)
    try:
        path = download_file(url, dest, sha256=sha256, timeout=args.timeout,
                             connect_timeout=args.connect_timeout)
    except (ValueError, DownloadError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'\ninterrupted; run again to resume.\n'
              f'{manual_hint(url, dest, sha256)}', file=sys.stderr)
        return 130
    print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
