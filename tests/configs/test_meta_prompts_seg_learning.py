"""Meta Prompts segmentation learning check on the synthetic seg set.

The quickstart config (tiny preset with the tiny SD stand-in weights of
``tools/misc/make_tiny_sd.py``: average-pooling VAE, UNet whose output conv
passes the latent back, see
:mod:`vpd.models.backbones.tiny_sd_stand_in`) is trained with its 3
refinement loops until its held-out mIoU, evaluated every ``VAL_EVERY``
iterations, is ``FACTOR`` x that of predicting the most frequent class
(mmengine's ``EarlyStoppingHook`` with a ``stopping_threshold``), within an
iteration budget: the test fails if the budget runs out first. It prints
how many iterations it took. The 1-loop figures are in
``configs/meta_prompts/README.md``.
"""
import os.path as osp
import time

from mmengine.config import Config
from mmengine.runner import Runner

from vpd.models.backbones.tiny_sd_stand_in import write_tiny_sd_checkpoint

from _tools import load_tool  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_CFG = osp.join(ROOT, 'configs', 'quickstart',
                   'meta-prompts_tiny-upernet_1xb4-300_synthetic-seg-64x64.py')
# Iteration budget (batch 4, 64 px, 3 loops). Measured: passes at 100
# (README table); 0.5-1 s per iteration on a shared 2-core CPU.
BUDGET = 200
VAL_EVERY = 25
FACTOR = 3.0


def seg_options(root, ckpt, iters, target):
    loader = dict(num_workers=0, persistent_workers=False,
                  dataset=dict(data_root=root))
    return {
        'model.backbone.pretrained': ckpt,
        'train_dataloader': loader,
        'val_dataloader': loader,
        'test_dataloader': loader,
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': VAL_EVERY,
        'param_scheduler': [],
        'default_hooks.checkpoint': None,
        'default_hooks.logger.interval': 50,
        'custom_hooks': [
            dict(type='EarlyStoppingHook', monitor='mIoU', rule='greater',
                 stopping_threshold=target, patience=iters)
        ],
    }


def test_meta_prompts_seg_learns(tmp_path):
    synth = load_tool('dataset_converters', 'make_synthetic_seg')
    meta = synth.make_synthetic_seg(
        str(tmp_path / 'data'), num_train=100, num_val=16, size=64,
        num_classes=5, seed=0)
    baseline = meta['val_majority_baseline']['mIoU']
    ckpt = str(tmp_path / 'tiny_sd.ckpt')
    write_tiny_sd_checkpoint(ckpt)
    cfg = Config.fromfile(SEG_CFG)
    assert cfg.model.backbone.num_loops == 3  # the default being checked
    target = FACTOR * baseline
    cfg.merge_from_dict(
        seg_options(str(tmp_path / 'data'), ckpt, BUDGET, target))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.log_level = 'WARNING'
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    iters = runner.iter
    metrics = runner.val()
    seconds = time.time() - start
    print(f'MP seg 3 loops: mIoU {metrics["mIoU"]:.1f} vs majority '
          f'baseline {baseline:.1f} after {iters} iterations ({seconds:.0f} s)')
    assert metrics['mIoU'] > target, (
        f'mIoU {metrics["mIoU"]:.2f} after {iters} iterations, needed > '
        f'{target:.2f} ({FACTOR} x the majority-class baseline)')
