"""Test-wide settings: offline hub, vpd registered, tiny model helpers."""
import os
import sys

os.environ['HF_HUB_OFFLINE'] = '1'
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
# pytest runs with -n 2 (one worker per core): more than one compute thread
# per worker oversubscribes the cores and OpenMP's spin-waiting then makes
# every op ~10x slower. Subprocesses inherit these.
os.environ['OMP_NUM_THREADS'] = '1'
os.environ['MKL_NUM_THREADS'] = '1'

import pytest  # noqa: E402
import torch  # noqa: E402

import vpd  # noqa: E402,F401
from vpd.utils import register_all_modules  # noqa: E402

register_all_modules()
torch.set_num_threads(1)
# test helpers shared by several files (``from _tools import load_tool``)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'slow: builds full-size (SD1.5 / SD2.1) models; '
        'deselect with -m "not slow"')


def pytest_collection_finish(session):
    """Move everything imported so far (torch, mmseg, diffusers, the test
    modules: ~550k objects) out of the cycle collector's sight
    (``gc.freeze``, the standard library's tool for long-lived start-up
    state). A full ``gc.collect()`` then no longer walks them: mmengine's
    ``BaseDataset`` calls one for every dataset it builds, ~0.3-0.4 s each
    with the frozen heap included, ~0 without. Objects created by the tests
    stay collectable (the full-size models below included)."""
    import gc
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(config, items):
    """The full-size builds (~3.5 GB each) share one xdist worker
    (``--dist loadgroup`` in pytest.ini), so the two workers never hold two
    of them at once."""
    for item in items:
        if item.get_closest_marker('slow'):
            item.add_marker(pytest.mark.xdist_group('full_size_sd'))


@pytest.fixture(autouse=True)
def _release_full_size_models(request):
    """A full-size model is freed before the next test starts: its modules
    hold reference cycles (attention processors, hooks), which only the
    cycle collector frees, and without it the next full-size build of the
    same worker came on top (8 GB in one process)."""
    yield
    if request.node.get_closest_marker('slow'):
        import gc
        gc.collect()


@pytest.fixture
def tiny_backbone_cfg():
    """Backbone config of the tiny SD-shaped preset."""
    return dict(type='StableDiffusionBackbone', unet='tiny', vae='tiny')


@pytest.fixture(autouse=True)
def _vpd_default_scope():
    """Each test starts in the ``vpd`` scope (a Runner built by an earlier
    test in the same worker may have made another scope current)."""
    from mmengine.registry import DefaultScope
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'vpd':
        import uuid
        DefaultScope.get_instance(f'vpd-test-{uuid.uuid4().hex}',
                                  scope_name='vpd')
    yield


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    import socket

    def deny(*args, **kwargs):
        raise RuntimeError('network access during an offline test')

    monkeypatch.setattr(socket.socket, 'connect', deny)
    monkeypatch.setattr(socket, 'create_connection', deny)
    monkeypatch.setattr(socket, 'getaddrinfo', deny)
