"""Run a command and report the peak memory of its whole process tree.

``/usr/bin/time -v`` reports the largest *single* process (``ru_maxrss``);
with ``pytest -n 2`` the two xdist workers (and the data-loader processes
they fork) run at the same time, and what the machine must hold is their
sum. This samples, every ``--interval`` seconds, the command and all its
descendants (psutil) and prints

* the peak of the summed PSS (proportional set size: a page shared by n
  processes counts 1/n in each, so forked data-loader workers, which share
  their parent's memory, are not counted again): the memory the tree used;
* the peak resident size of the largest single process (what
  ``/usr/bin/time -v`` calls "Maximum resident set size");

and the processes at the moment the sum peaked::

    python tools/analysis_tools/peak_memory.py -- python -m pytest -q -n 2

Exit status: the command's.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import List, Optional, Tuple


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Peak summed RSS of a command and its children.')
    parser.add_argument('--interval', type=float, default=0.2,
                        help='seconds between samples (default 0.2)')
    parser.add_argument('--trace', default=None,
                        help='also write "seconds summed_PSS_GiB '
                        'largest_RSS_GiB" per sample to this file')
    parser.add_argument('cmd', nargs=argparse.REMAINDER,
                        help='the command (after --)')
    args = parser.parse_args(argv)
    if args.cmd and args.cmd[0] == '--':
        args.cmd = args.cmd[1:]
    if not args.cmd:
        parser.error('give the command to run after --')
    return args


def tree_rss(proc) -> Tuple[int, int, List[Tuple[int, str]]]:
    """Summed PSS and largest RSS (bytes) of ``proc`` and its descendants.

    Args:
        proc (psutil.Process): The root process.

    Returns:
        tuple: ``(summed PSS, largest RSS, [(PSS, command line), ...])``.
    """
    import psutil
    total, largest, rows = 0, 0, []
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0, 0, []
    for p in procs:
        try:
            info = p.memory_full_info()  # /proc/PID/smaps_rollup
            cmd = ' '.join(p.cmdline())[:120]
        except psutil.Error:
            continue
        pss = getattr(info, 'pss', info.rss)
        total += pss
        largest = max(largest, info.rss)
        rows.append((pss, cmd))
    return total, largest, rows


def main(argv: Optional[List[str]] = None) -> int:
    """Run the tool.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        int: The command's exit status.
    """
    args = parse_args(argv)
    try:
        import psutil
    except ImportError:
        print('error: this tool needs psutil (pip install -e ".[tests]")',
              file=sys.stderr)
        return 2
    t0 = time.time()
    child = subprocess.Popen(args.cmd)
    root = psutil.Process(child.pid)
    peak_sum, peak_one, peak_rows, peak_t = 0, 0, [], 0.0
    gib = 1024 ** 3
    trace = open(args.trace, 'w', encoding='utf-8') if args.trace else None
    while child.poll() is None:
        total, largest, rows = tree_rss(root)
        if trace is not None:
            trace.write(f'{time.time() - t0:.1f} {total / gib:.3f} '
                        f'{largest / gib:.3f}\n')
            trace.flush()
        if total > peak_sum:
            peak_sum, peak_rows, peak_t = total, rows, time.time() - t0
        peak_one = max(peak_one, largest)
        time.sleep(args.interval)
    if trace is not None:
        trace.close()
    print(f'[peak_memory] {time.time() - t0:.0f} s; peak summed PSS '
          f'{peak_sum / gib:.2f} GiB at {peak_t:.0f} s; largest single '
          f'process RSS {peak_one / gib:.2f} GiB; exit {child.returncode}',
          file=sys.stderr)
    for rss, cmd in sorted(peak_rows, reverse=True)[:6]:
        print(f'[peak_memory]   {rss / gib:6.2f} GiB  {cmd}', file=sys.stderr)
    return child.returncode


if __name__ == '__main__':
    sys.exit(main())
