"""Keep the LR schedule inside a run whose length was overridden."""
from __future__ import annotations

import logging
from typing import Any, Iterable, List, Mapping, Optional

from mmengine.logging import print_log

__all__ = ['fit_schedule_to_run_length']

#: an ``end`` at or above this is "open" (mmengine's INF is 1e9)
_OPEN_END = 10**8


def _rescale(p: int, old: int, new: int) -> int:
    """Map step ``p`` of a run of ``old`` steps onto one of ``new`` steps.

    Steps inside the run scale proportionally; steps past its end keep their
    distance to it (mmcv-equal schedules end at ``max_iters + 1``).
    """
    if p <= old:
        return int(round(p * new / old))
    return new + (p - old)


def _unit(sched: Mapping[str, Any]) -> str:
    return 'max_epochs' if sched.get('by_epoch', True) else 'max_iters'


def fit_schedule_to_run_length(cfg: Any,
                               old_train_cfg: Optional[Mapping[str, Any]],
                               overrides: Optional[Iterable[str]] = None
                               ) -> List[str]:
    """Rescale or flag parameter schedulers left outside a shortened run.

    ``--cfg-options train_cfg.max_iters=60`` on a config whose warm-up ends
    at 50 and whose poly decay ends at 150 would train 60 iterations of
    mostly warm-up; a warm-up longer than the run even fails in mmengine
    (``end should be larger than begin``). When ``train_cfg.max_iters`` (or
    ``max_epochs``) became smaller than in the config file and a scheduler
    of that unit (``by_epoch=False``: iterations, else epochs) ends after
    the new length, then:

    * every scheduler of that unit that the overrides did not touch is
      rescaled with the run: ``begin``, ``end``, ``T_max``, ``peak`` and
      ``milestones`` at step ``p`` of ``old`` move to ``round(p * new /
      old)``, and a step past the old end keeps its distance to the end
      (``end=80001`` with ``max_iters=80000`` becomes ``new + 1``). The
      schedule keeps its shape: a warm-up over the first third of the run
      stays the first third;
    * a scheduler the overrides set themselves (``param_scheduler.1.end=``)
      is left as given, with a warning if it begins at or after the end of
      the run or ends after ``new + 1``.

    Each change and each warning is one log line naming the scheduler
    (``param_scheduler[0] LinearLR``) and its old and new ``begin/end``.

    Args:
        cfg (Config | dict): The config after the overrides; its
            ``param_scheduler`` is modified in place.
        old_train_cfg (Mapping, optional): ``train_cfg`` before the
            overrides (None: nothing to compare, nothing done).
        overrides (Iterable[str], optional): The overridden keys
            (``--cfg-options`` keys, e.g. ``'param_scheduler.1.end'``).

    Returns:
        list[str]: The logged lines (empty when nothing had to change).
    """
    train_cfg = cfg.get('train_cfg') if hasattr(cfg, 'get') else None
    scheds = cfg.get('param_scheduler') if hasattr(cfg, 'get') else None
    if not train_cfg or not old_train_cfg or not scheds:
        return []
    if isinstance(scheds, Mapping):
        scheds = [scheds]
    overrides = [str(k) for k in (overrides or ())]
    lines: List[str] = []
    for unit in ('max_iters', 'max_epochs'):
        old, new = old_train_cfg.get(unit), train_cfg.get(unit)
        if not isinstance(old, int) or not isinstance(new, int) or \
                new >= old or new <= 0:
            continue
        mine = [(i, s) for i, s in enumerate(scheds)
                if isinstance(s, Mapping) and _unit(s) == unit]

        def touched(i: int) -> bool:
            return any(k == 'param_scheduler'
                       or k.startswith(f'param_scheduler.{i}.')
                       or k == f'param_scheduler.{i}' for k in overrides)

        def beyond(s: Mapping[str, Any], slack: int) -> bool:
            end = s.get('end', _OPEN_END)
            return s.get('begin', 0) >= new or (end < _OPEN_END
                                                and end > new + slack)

        rescale = any(beyond(s, 0) for i, s in mine if not touched(i))
        for i, s in mine:
            if touched(i):
                if beyond(s, 1):
                    lines.append(
                        f'train_cfg.{unit}={new}, but param_scheduler[{i}] '
                        f'{s.get("type")} (set by the overrides) runs '
                        f'begin/end {s.get("begin", 0)}/{s.get("end")}: '
                        'outside the run')
                continue
            if not rescale:
                continue
            b0, e0 = s.get('begin', 0), s.get('end', _OPEN_END)
            b1 = _rescale(b0, old, new)
            e1 = e0 if e0 >= _OPEN_END else max(_rescale(e0, old, new),
                                                b1 + 1)
            s['begin'], extra = b1, ''
            if 'end' in s:
                s['end'] = e1
            if s.get('T_max') is not None:
                s['T_max'] = max(1, int(round(s['T_max'] * new / old)))
                extra += f', T_max {s["T_max"]}'
            if s.get('peak') is not None:
                s['peak'] = max(1, int(round(s['peak'] * new / old)))
                extra += f', peak {s["peak"]}'
            if s.get('milestones') is not None:
                s['milestones'] = [_rescale(m, old, new)
                                   for m in s['milestones']]
                extra += f', milestones {s["milestones"]}'
            lines.append(
                f'train_cfg.{unit} {old} -> {new}: param_scheduler[{i}] '
                f'{s.get("type")} begin/end {b0}/{e0} -> {b1}/{e1}{extra} '
                '(rescaled with the run; set param_scheduler.'
                f'{i}.begin/end in --cfg-options to choose them yourself)')
    for line in lines:
        print_log(line, logger='current', level=logging.WARNING)
    return lines
