"""Pose end to end with the project's tools on the synthetic set (tiny):
make_synthetic_pose -> train.py -> test.py on a detections file (--out,
--show-dir) -> inference.py (--bboxes) and vpd.apis -> mean-pose baseline."""
import glob
import json
import os.path as osp

import numpy as np
import pytest

from _tools import load_tool  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'quickstart',
                  'meta-prompts_tiny_1xb8-300_synthetic-pose-128x96.py')


@pytest.fixture(scope='module')
def pose_run(tmp_path_factory):
    """Data, tiny weights and a 2-iteration training run."""
    from vpd.models.backbones.tiny_sd_stand_in import \
        write_tiny_sd_checkpoint
    tmp = tmp_path_factory.mktemp('pose_tools')
    root = str(tmp / 'data')
    meta = load_tool('dataset_converters', 'make_synthetic_pose') \
        .make_synthetic_pose(root, num_train=6, num_val=3, size=64,
                             max_persons=2, seed=2)
    ckpt = str(tmp / 'tiny_sd.ckpt')
    write_tiny_sd_checkpoint(ckpt)
    ann = osp.join(root, 'annotations', 'person_keypoints_val2017.json')
    model = {
        'model.backbone.pretrained': ckpt, 'model.backbone.num_loops': 1,
        'model.conditioner.num_loops': 1, 'model.conditioner.num_prompts': 8,
        'model.head.in_channels': 8, 'model.head.deconv_out_channels': [8]
    }
    model_opts = [f'{k}={v}'.replace(' ', '') for k, v in model.items()]
    opts = model_opts + [
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'param_scheduler=[]',
        'train_dataloader.batch_size=2'
    ]
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.dataset.data_root={root}',
                 f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    work = str(tmp / 'work')
    runner = load_tool('train').main([CONFIG, '--work-dir', work,
                                      '--cfg-options', *opts])
    assert runner.iter == 2
    return dict(root=root, ann=ann, opts=opts, model=model,
                model_opts=model_opts, work=work, meta=meta,
                ckpt=osp.join(work, 'iter_2.pth'), tmp=tmp)


def test_test_tool_on_detections(pose_run):
    out, show = str(pose_run['tmp'] / 'out'), str(pose_run['tmp'] / 'show')
    metrics = load_tool('test').main([
        CONFIG, pose_run['ckpt'], '--work-dir', pose_run['work'], '--out',
        out, '--show-dir', show, '--cfg-options', *pose_run['opts']
    ])
    assert {'coco/AP', 'coco/AP50', 'coco/AR'} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    results = json.load(open(osp.join(out, 'keypoint_results.json')))
    dets = json.load(open(osp.join(
        pose_run['root'], 'person_detection_results',
        'synthetic_val2017_detections.json')))
    assert 0 < len(results) <= len(dets)
    assert {r['image_id'] for r in results} <= {d['image_id'] for d in dets}
    assert len(glob.glob(osp.join(show, '*.png'))) == 3  # one per image


def test_inference_tool_and_api(pose_run):
    img_dir = osp.join(pose_run['root'], 'val2017')
    out = str(pose_run['tmp'] / 'infer')
    boxes = str(pose_run['tmp'] / 'boxes.json')
    with open(boxes, 'w') as f:
        json.dump({'synth_000000.jpg': [[5, 5, 30, 50, 0.9],
                                        [20, 10, 30, 40]]}, f)
    tool = load_tool('inference')
    cfg_opts = ['--cfg-options'] + pose_run['model_opts']
    assert tool.main([CONFIG, pose_run['ckpt'], img_dir, '--out-dir', out,
                      '--bboxes', boxes, *cfg_opts]) == 0
    results = json.load(open(osp.join(out, 'keypoints.json')))
    assert len(results) == 2  # boxes only for synth_000000.jpg
    r = results[0]
    assert set(r) == {'image_id', 'category_id', 'bbox', 'keypoints',
                      'score'}
    assert r['image_id'] == 'synth_000000' and r['category_id'] == 1
    assert r['bbox'] == [5, 5, 30, 50] and len(r['keypoints']) == 51
    assert len(glob.glob(osp.join(out, '*_pose.png'))) == 3
    # the API, whole image as one box when none are given
    from vpd.apis import inference_model, init_model
    model = init_model(CONFIG, pose_run['ckpt'],
                       cfg_options=pose_run['model'])
    poses = inference_model(model, osp.join(img_dir, 'synth_000001.jpg'))
    # the whole 64x64 image, as mmpose's inference_topdown: (0, 0, w, h)
    assert len(poses) == 1 and poses[0]['bbox'] == [0.0, 0.0, 64.0, 64.0]
    kp = np.array(poses[0]['keypoints']).reshape(17, 3)
    assert np.isfinite(kp).all()


def test_mean_pose_baseline(pose_run):
    from mmengine.config import Config
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': pose_run['root'],
        'test_dataloader.dataset.data_root': pose_run['root'],
        'test_evaluator.ann_file': pose_run['ann']})
    out = load_tool('analysis_tools', 'pose_mean_baseline') \
        .mean_pose_baseline(cfg)
    assert out['mean_pose'].shape == (17, 2)
    # the mean pose lies inside the 96x128 crop
    assert (out['mean_pose'] >= 0).all()
    assert (out['mean_pose'] <= [95, 127]).all()
    assert 0 <= out['metrics']['AP'] <= 1
