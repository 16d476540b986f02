"""EmptyTargetHook: batches without a valid target pixel are counted and a
whole epoch of them stops training (case rel-04)."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from vpd.engine.hooks import EmptyTargetError
from vpd.models.estimators import DiffusionDepthEstimator
from vpd.models.losses import BatchSiLogLoss

from _tiny_runner import TinyModel, log_text, make_runner

HOOK = dict(empty_target=dict(type='EmptyTargetHook'))


def test_an_epoch_without_valid_pixels_stops(tmp_path):
    model = TinyModel(valid_count=lambda i: 0)
    runner = make_runner(str(tmp_path), 30, 'empty_epoch', model=model,
                         extra_hooks=HOOK, checkpoint=dict(interval=100))
    with pytest.raises(EmptyTargetError) as err:
        runner.train()
    message = str(err.value)
    assert runner.iter == 3  # the 4th batch closes the first epoch
    from vpd.utils.cli import user_error_message
    assert user_error_message(err.value).startswith('EmptyTargetError: ')
    for part in ('4 consecutive training batches', 'TinyDataset',
                 'data_root="/data/tiny"', 'ann_file="tiny_list.txt"',
                 'ground-truth depth > 0 m', 'loss is 0'):
        assert part in message, (part, message)


def test_some_empty_batches_are_counted_and_logged(tmp_path):
    model = TinyModel(valid_count=lambda i: 0 if i in (1, 5) else 100)
    runner = make_runner(str(tmp_path), 8, 'empty_some', model=model,
                         extra_hooks=HOOK, checkpoint=dict(interval=100))
    runner.train()
    assert runner.iter == 8
    log = log_text(runner)
    assert 'Iteration 2: the batch has no valid target pixel ' \
        '(ground-truth depth > 0 m; files: img_1.png)' in log
    assert '2 training batch(es) had no valid target pixel' in log


def test_depth_estimator_reports_valid_pixels():
    """The depth loss returns 0 without valid pixels; the estimator tells
    the MessageHub how many there were, with the loss's own valid range."""
    loss = BatchSiLogLoss(min_depth=0.5)
    fake = SimpleNamespace(loss_decode=loss)
    gt = torch.zeros(2, 1, 4, 4)
    gt[0, 0, 0, :3] = 2.0
    samples = [SegDataSample(metainfo=dict(img_path=f'/d/{i}.jpg'))
               for i in range(2)]
    hub = MessageHub.get_current_instance()
    DiffusionDepthEstimator._report_valid_targets(fake, gt, samples)
    info = hub.get_info('train_valid_targets')
    assert info == dict(count=3, valid_range='ground-truth depth > 0.5 m',
                        files=['/d/0.jpg', '/d/1.jpg'])
    assert float(loss(torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4))) == 0
    # NaN ground truth is not valid either
    assert not loss.valid_mask(torch.full((2, 2), float('nan'))).any()


def test_segmentor_counts_non_ignored_labels():
    from vpd.models.segmentors import DiffusionSegmentor
    fake = SimpleNamespace(
        decode_head=SimpleNamespace(num_classes=5, ignore_index=255))
    sample = SegDataSample(metainfo=dict(seg_map_path='/a/1.png'))
    labels = torch.full((1, 4, 4), 255)
    labels[0, 0, :2] = 3
    sample.gt_sem_seg = PixelData(data=labels)
    assert DiffusionSegmentor.check_labels(fake, [sample]) == 2
