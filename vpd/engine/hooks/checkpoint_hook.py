"""mmengine's ``CheckpointHook`` made crash-safe (vpd scope, same name)."""
from __future__ import annotations

import os.path as osp
from collections import deque
from typing import List, Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook
from mmengine.model import is_model_wrapper

from vpd.engine.checkpoint_io import (remove_stale_temp_files,
                                      repair_last_checkpoint,
                                      write_last_checkpoint)
from vpd.registry import HOOKS
from vpd.utils.checkpoint import NonFiniteTensorError, non_finite_tensors


class _DeferredRemoval:
    """A file backend stand-in that records ``remove`` calls instead of
    deleting (everything else goes to the real backend)."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.pending: List[str] = []

    def remove(self, path: str) -> None:
        self.pending.append(path)

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


@HOOKS.register_module()
class CheckpointHook(MMEngineCheckpointHook):
    """``CheckpointHook`` that never leaves a work dir without a checkpoint.

    Registered in the ``vpd`` scope under mmengine's own name, so every
    config with ``default_scope = 'vpd'`` (all of this project's) gets it
    from ``type='CheckpointHook'`` and from mmengine's default hooks;
    ``type='mmengine.CheckpointHook'`` still gives the original. Same
    arguments and checkpoint contents as mmengine's; what differs:

    * **Order of a save.** mmengine deletes the oldest kept checkpoint
      (``max_keep_ckpts``) *before* writing the new one, so a crash during
      the write can leave no checkpoint at all. Here the new file is written
      (atomically, :mod:`vpd.engine.checkpoint_io`), then
      ``last_checkpoint`` (atomically, through a temp file), and only then is
      the oldest deleted. The ids saved in the checkpoint's message hub
      include the one still to be deleted, so resuming from it deletes the
      surplus (mmengine's ``before_train``) if a crash came in between.
    * **No non-finite weights.** Before saving, the model's parameters and
      buffers and the optimizer state are checked; if any holds NaN/Inf the
      save is refused with :class:`~vpd.utils.checkpoint.NonFiniteTensorError`
      (training stops) and the previous checkpoint is kept, whatever
      ``max_keep_ckpts`` says.
    * **Best checkpoints** (``save_best``): the previous best file is
      deleted only after the new best one is written.
    * **Start of a run** (``before_run``, before mmengine resumes): temp
      files of an interrupted save are removed, and an empty, dangling or
      missing ``last_checkpoint`` is pointed at the newest complete
      checkpoint with a warning
      (:func:`~vpd.engine.checkpoint_io.repair_last_checkpoint`).

    Args:
        **kwargs: As mmengine's ``CheckpointHook`` (``interval``,
            ``by_epoch``, ``max_keep_ckpts``, ``out_dir``, ``save_best``
            ...).
    """

    def before_run(self, runner) -> None:
        """Remove stale temp files and repair ``last_checkpoint``.

        Args:
            runner (Runner): The runner.
        """
        super().before_run(runner)
        if not is_main_process():
            return
        ckpt_dir = self._local_checkpoint_dir(runner)
        folders = [runner.work_dir]
        if ckpt_dir is not None and ckpt_dir != runner.work_dir:
            folders.append(ckpt_dir)
        for folder in folders:
            remove_stale_temp_files(folder)
        if ckpt_dir is not None:
            repair_last_checkpoint(runner.work_dir, ckpt_dir,
                                   self.filename_tmpl)

    def _local_checkpoint_dir(self, runner) -> Optional[str]:
        """Where checkpoints go (as ``before_train`` computes it); None if
        that is not a local folder."""
        out_dir = self.out_dir if self.out_dir is not None else \
            runner.work_dir
        if '://' in str(out_dir):
            return None
        if out_dir != runner.work_dir:
            out_dir = osp.join(out_dir,
                               osp.basename(runner.work_dir.rstrip(osp.sep)))
        return out_dir

    # ------------------------------------------------------------------
    @staticmethod
    def _non_finite_state(runner) -> List[Tuple[str, int, int]]:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        bad = non_finite_tensors(dict(model.state_dict()), 'state_dict')
        optim_wrapper = getattr(runner, 'optim_wrapper', None)
        wrappers = getattr(optim_wrapper, 'optim_wrappers', None)
        if wrappers is None and hasattr(optim_wrapper, 'optimizer'):
            wrappers = {'': optim_wrapper}
        for key, wrapper in (wrappers or {}).items():
            state = {str(i): s for i, s in
                     enumerate(wrapper.optimizer.state.values())}
            bad += non_finite_tensors(
                state, 'optimizer' + (f'.{key}' if key else ''))
        return bad

    def _check_finite(self, runner, filename: str) -> None:
        bad = self._non_finite_state(runner)
        if not bad:
            return
        name, count, total = bad[0]
        previous = runner.message_hub.get_info('last_ckpt')
        kept = (f'The previous checkpoint, {previous}, is kept.'
                if previous else 'No earlier checkpoint was written.')
        raise NonFiniteTensorError(
            f'Refused to save checkpoint {filename} at iteration '
            f'{runner.iter}: {len(bad)} tensor(s) hold NaN/Inf (e.g. '
            f'"{name}": {count} of {total} values); training diverged. '
            f'{kept} Try a lower learning rate, training without --amp, or '
            'checking the data.',
            path=filename, names=[b[0] for b in bad])

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's, with the deletion of the previous best checkpoint
        (and of old regular ones) put off until the new files are written."""
        self._check_finite(runner, 'best checkpoint')
        backend = self.file_backend
        deferred = _DeferredRemoval(backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        kept = {getattr(self, 'best_ckpt_path', None), self.last_ckpt,
                *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in deferred.pending:
            if path not in kept and backend.isfile(path):
                backend.remove(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Check, write the new checkpoint and ``last_checkpoint``, then
        delete the checkpoints beyond ``max_keep_ckpts``."""
        ckpt_filename = self.filename_tmpl.format(step)
        self._check_finite(runner, ckpt_filename)

        keep: Optional[list] = None
        if self.max_keep_ckpts > 0:
            keep = list(self.keep_ckpt_ids)
            if not keep or keep[-1] != step:
                keep.append(step)
            # saved inside the new checkpoint: resuming from it deletes the
            # ids beyond max_keep_ckpts if we crash before deleting them
            runner.message_hub.update_info('keep_ckpt_ids', list(keep))

        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if is_main_process():
            write_last_checkpoint(runner.work_dir, self.last_ckpt)
        if keep is None:
            return
        while len(keep) > self.max_keep_ckpts:
            old = keep.pop(0)
            if is_main_process():
                path = self.file_backend.join_path(
                    self.out_dir, self.filename_tmpl.format(old))
                if self.file_backend.isfile(path):
                    self.file_backend.remove(path)
                elif self.file_backend.isdir(path):
                    # checkpoints saved by deepspeed are directories
                    self.file_backend.rmtree(path)
        self.keep_ckpt_ids = deque(keep, self.max_keep_ckpts)
        runner.message_hub.update_info('keep_ckpt_ids', list(keep))
