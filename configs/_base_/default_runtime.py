default_scope = 'vpd'
# vpd.engine.VPDRunner: mmengine's runner, writing the config to the work dir
# instead of printing it (log_config=True prints it too).
runner_type = 'VPDRunner'
log_config = False
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
# (no fixed name: each runner's visualizer is named after its experiment, so
# a second runner in one process, e.g. the quickstart's test after its
# training, does not reuse the first one's)
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
