"""Learning check: VPD referring segmentation (tiny preset) learns to
segment the object a sentence describes on the synthetic set, far above
the best sentence-blind baseline; then inference with text.

Small budget: the quickstart config (tiny UNet, average-pooling VAE
stand-in) for 100 iterations of batch 16 at a constant lr 2e-3, with the
word-identity tiny text model (:func:`vpd.models.backbones.tiny_sd_stand_in.
init_word_identity_clip_`, a deterministic stand-in for CLIP: with the
random tiny text model the same run needs about twice the iterations; the
quickstart's own figures are in configs/vpd/README.md).
"""
import os.path as osp
import time

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from _tools import load_tool  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CFG = osp.join(ROOT, 'configs', 'quickstart',
               'vpd_tiny-lavt_1xb8-600_synthetic-refer-64x64.py')
ITERS = 100


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    from vpd.models.backbones.tiny_sd_stand_in import (
        write_tiny_clip_text, write_tiny_sd_checkpoint)
    tmp = tmp_path_factory.mktemp('refer_learning')
    data = str(tmp / 'data')
    synth = load_tool('dataset_converters', 'make_synthetic_refer')
    meta = synth.make_synthetic_refer(data, num_train=400, num_val=20,
                                      size=64, seed=0)
    ckpt = str(tmp / 'tiny_sd.ckpt')
    write_tiny_sd_checkpoint(ckpt, passthrough_unet=False)  # as measured
    clip = str(tmp / 'clip')
    write_tiny_clip_text(clip, word_identity=True)
    loader = dict(num_workers=0, persistent_workers=False,
                  dataset=dict(data_root=data))
    options = {
        'model.backbone.pretrained': ckpt,
        'model.conditioner.text_encoder': clip,
        'train_dataloader': dict(loader, batch_size=16),
        'val_dataloader': dict(loader, batch_size=20),
        'test_dataloader': dict(loader, batch_size=20),
        'optim_wrapper.optimizer.lr': 2e-3,
        'param_scheduler': [],
        'train_cfg.max_iters': ITERS,
        'train_cfg.val_interval': ITERS + 1,
        # no validation inside train() (mmengine validates at max_iters):
        # the one runner.val() below
        'train_cfg.val_begin': ITERS + 1,
        'default_hooks.checkpoint.interval': ITERS,
        'default_hooks.logger.interval': 20,
    }
    cfg = Config.fromfile(CFG)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(tmp / 'work')
    cfg.log_level = 'WARNING'
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val()
    return dict(metrics=metrics, seconds=time.time() - start, tmp=tmp,
                data=data, options=options, meta=meta,
                ckpt=osp.join(cfg.work_dir, f'iter_{ITERS}.pth'))


def test_beats_sentence_blind_baselines(trained):
    base = trained['meta']['baselines']
    best = base['best']['oIoU']
    oiou = trained['metrics']['oIoU']
    print(f'refer learning check: oIoU {oiou:.1f} (mIoU '
          f'{trained["metrics"]["mIoU"]:.1f}) vs all-foreground '
          f'{base["all_foreground"]["oIoU"]:.1f}, all-background '
          f'{base["all_background"]["oIoU"]:.1f}, largest shape '
          f'{base["largest_shape"]["oIoU"]:.1f}; {ITERS} iterations, '
          f'{trained["seconds"]:.0f} s')
    assert base['best']['name'] == 'largest_shape'
    assert oiou > 1.4 * best


def test_inference_with_text(trained, tmp_path):
    import cv2

    from vpd.apis import inference_model, init_model
    opts = {'model.backbone.pretrained': None,
            'model.conditioner.text_encoder':
            trained['options']['model.conditioner.text_encoder']}
    model = init_model(CFG, trained['ckpt'], cfg_options=opts)
    img_dir = osp.join(trained['data'], 'images', 'mscoco', 'images',
                       'train2014')
    from vpd.datasets import load_refs_pickle
    refs = load_refs_pickle(osp.join(trained['data'], 'synthetic',
                                     'refs(unc).p'))
    image = osp.join(img_dir, refs[-1]['file_name'])
    texts = ['the shape on the left', 'the shape on the right']
    one = inference_model(model, image, text=texts[0])
    mask = one.pred_sem_seg.data[0].numpy()
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 1}
    both = inference_model(model, cv2.imread(image), text=texts)
    assert len(both) == 2
    np.testing.assert_array_equal(both[0].pred_sem_seg.data[0].numpy(),
                                  mask)
    left, right = (s.pred_sem_seg.data[0].numpy() for s in both)
    assert left.any() and right.any() and not (left & right).any()
    assert np.nonzero(left)[1].mean() < np.nonzero(right)[1].mean()
    with pytest.raises(ValueError, match='empty sentence'):
        inference_model(model, image, text='  ')
    with pytest.raises(ValueError, match='text='):
        inference_model(model, image)
    # the CLI: one overlay and one binary mask per sentence
    tool = load_tool('inference')
    out = str(tmp_path / 'out')
    cli = [CFG, trained['ckpt'], image, '--out-dir', out,
           '--text', texts[0], '--text', texts[1], '--cfg-options'] + [
               f'{k}={v}' for k, v in opts.items()]
    assert tool.main(cli) == 0
    stem = osp.splitext(osp.basename(image))[0]
    for k in (0, 1):
        overlay = cv2.imread(osp.join(out, f'{stem}_refer{k}.png'))
        assert overlay.shape == (64, 64, 3)
        binary = cv2.imread(osp.join(out, f'{stem}_refer{k}_mask.png'),
                            cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(binary,
                                      (left, right)[k].astype(np.uint8) * 255)
    with pytest.raises(ValueError, match='--text'):
        tool.main(cli[:5])
