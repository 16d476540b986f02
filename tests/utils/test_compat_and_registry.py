"""Import compatibility layer, registries and offline import."""
import os
import subprocess
import sys

import pytest


def test_mmseg_models_import_on_mmcv_lite():
    import mmseg.models  # noqa: F401
    from mmseg.models.segmentors import EncoderDecoder  # noqa: F401
    from vpd.utils.compat import has_compiled_mmcv_ops
    if not has_compiled_mmcv_ops():
        from vpd.utils.compat import MMCVOpsUnavailableError
        ext = sys.modules['mmcv._ext']
        with pytest.raises(MMCVOpsUnavailableError, match='mmcv-lite'):
            ext.nms(None)


def test_placeholder_is_idempotent():
    from vpd.utils.compat import install_mmcv_ext_placeholder
    first = sys.modules.get('mmcv._ext')
    install_mmcv_ext_placeholder()
    assert sys.modules.get('mmcv._ext') is first


def test_registries_are_children_of_mmseg():
    from mmseg.registry import MODELS as MMSEG_MODELS

    from vpd.registry import DATASETS, METRICS, MODELS, TRANSFORMS
    assert MODELS.parent is MMSEG_MODELS
    assert MODELS.scope == 'vpd'
    assert MODELS.get('StableDiffusionBackbone') is not None
    assert MODELS.get('FPN') is not None  # found through mmseg
    assert MODELS.get('mmseg.EncoderDecoder') is not None
    assert DATASETS.get('NYUDepthDataset') is not None
    assert TRANSFORMS.get('LoadDepthMap') is not None
    assert METRICS.get('DepthMetric') is not None


def test_import_vpd_offline_does_not_touch_network():
    """`import vpd` in a fresh interpreter with sockets disabled."""
    code = (
        'import socket\n'
        'def deny(*a, **k):\n'
        '    raise RuntimeError("network access at import")\n'
        'socket.socket.connect = deny\n'
        'socket.create_connection = deny\n'
        'socket.getaddrinfo = deny\n'
        'import vpd\n'
        'from vpd.utils import register_all_modules\n'
        'register_all_modules()\n'
        'from vpd.registry import MODELS\n'
        'MODELS.build(dict(type="StableDiffusionBackbone", unet="tiny", '
        'vae="tiny"))\n'
        'print("ok")\n')
    env = dict(os.environ)
    env.pop('HF_HUB_OFFLINE', None)  # must hold even without the flag
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith('ok')
