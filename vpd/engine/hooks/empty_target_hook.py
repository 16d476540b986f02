"""Count training batches without a valid target pixel; stop on a whole
epoch of them."""
from __future__ import annotations

import logging
from typing import Optional

from mmengine.hooks import Hook

from vpd.registry import HOOKS

#: MessageHub runtime-info key the vpd models fill in ``loss()``:
#: ``dict(count=<valid target pixels in the batch>, valid_range=<text>,
#: files=<a few image paths>)``.
INFO_KEY = 'train_valid_targets'


class EmptyTargetError(RuntimeError):
    """A whole epoch of training batches had no valid target pixel."""


def describe_dataset(dataset) -> str:
    """``Type(data_root=..., ann_file=...)`` of a dataset (or its parts)."""
    parts = getattr(dataset, 'datasets', None)
    if parts:
        return ' + '.join(describe_dataset(d) for d in parts)
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and not hasattr(dataset, 'data_root'):
        return describe_dataset(inner)
    fields = [f'{k}="{getattr(dataset, k)}"' for k in ('data_root', 'ann_file')
              if getattr(dataset, k, None)]
    return f'{type(dataset).__name__}({", ".join(fields)})'


@HOOKS.register_module()
class EmptyTargetHook(Hook):
    """Make batches without a valid target pixel visible.

    A batch whose ground truth has no valid pixel (depth: every pixel at or
    below the loss's ``min_depth``, e.g. maps in the wrong unit or all zero;
    segmentation: every label ``ignore_index``) gets a zero loss and no
    gradient. That is harmless once, but a split where it always happens
    would train "successfully" with loss 0. The vpd models (depth estimator,
    segmentor) put the number of valid target pixels of each training batch
    into the MessageHub runtime info :data:`INFO_KEY`; this hook counts the
    empty batches, logs the first one and then every ``warn_interval``-th
    (with the running count and a few of the batch's files), and when as
    many consecutive batches as one epoch has (``len(train_dataloader)``)
    are empty, stops with :class:`EmptyTargetError` naming the dataset and
    the valid range used. Models that report nothing are not checked.

    Args:
        warn_interval (int): Log every n-th empty batch after the first.
            Defaults to 50.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, warn_interval: int = 50) -> None:
        if int(warn_interval) < 1:
            raise ValueError('EmptyTargetHook warn_interval must be >= 1, '
                             f'got {warn_interval}')
        self.warn_interval = int(warn_interval)
        self.num_empty = 0
        self._consecutive = 0
        self._epoch_length: Optional[int] = None

    def before_train(self, runner) -> None:
        """Read the epoch length (batches per pass over the data).

        Args:
            runner (Runner): The runner.
        """
        try:
            self._epoch_length = len(runner.train_dataloader)
        except TypeError:  # an iterable dataset has no length
            self._epoch_length = None
        runner.message_hub.update_info(INFO_KEY, None)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        """Count an empty batch; stop after a whole epoch of them.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch.
            data_batch (dict, optional): The batch.
            outputs (dict, optional): The model's log variables.

        Raises:
            EmptyTargetError: A whole epoch of batches had no valid pixel.
        """
        info = runner.message_hub.get_info(INFO_KEY)
        # cleared rather than popped: mmengine warns at resume about a key
        # its message hub has seen but does not hold
        runner.message_hub.update_info(INFO_KEY, None)
        if not isinstance(info, dict) or 'count' not in info:
            return
        if int(info['count']) > 0:
            self._consecutive = 0
            return
        self.num_empty += 1
        self._consecutive += 1
        valid_range = info.get('valid_range', 'valid target')
        dataset = describe_dataset(runner.train_dataloader.dataset)
        if self._epoch_length and self._consecutive >= self._epoch_length:
            raise EmptyTargetError(
                f'No valid target pixel in {self._consecutive} consecutive '
                f'training batches (a whole epoch) of {dataset}: the loss is '
                f'0 and nothing is learned. Valid means {valid_range}. Check '
                'the ground-truth files, their unit/scale (e.g. uint16 '
                'millimetres for NYU, metres x 256 for KITTI) and the '
                'configured depth range or num_classes/ignore_index.')
        if self.num_empty == 1 or self.num_empty % self.warn_interval == 0:
            files = ', '.join(info.get('files') or [])
            runner.logger.log(
                logging.WARNING,
                f'Iteration {runner.iter + 1}: the batch has no valid target '
                f'pixel ({valid_range}; files: {files or "?"}), so its loss '
                f'is 0; {self.num_empty} such batch(es) so far in {dataset}.')

    def after_train(self, runner) -> None:
        """Summarise the empty batches of the run.

        Args:
            runner (Runner): The runner.
        """
        if self.num_empty:
            runner.logger.warning(
                f'EmptyTargetHook: {self.num_empty} training batch(es) had no '
                'valid target pixel (zero loss, no gradient).')
