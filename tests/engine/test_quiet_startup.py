"""The runners' config text is formatted once per content."""
import copy
import pickle

from mmengine.config import Config

from vpd.engine.runners.quiet_startup import _TextCachedConfig, text_cached


def test_text_cached_config_remakes_the_text_after_an_edit(tmp_path):
    path = tmp_path / 'my_cfg.py'
    path.write_text("model = dict(type='M', depth=2)\n"
                    'train_cfg = dict(max_iters=10)\n')
    cfg = Config.fromfile(str(path))
    cached = copy.deepcopy(text_cached(cfg))  # as the runner copies it
    assert isinstance(cached, _TextCachedConfig)
    assert cached.filename == cfg.filename and 'text' not in cached
    assert cached.pretty_text == cfg.pretty_text
    assert cached.pretty_text is cached.pretty_text  # formatted once
    cached.train_cfg.max_iters = 7
    assert 'max_iters=7' in cached.pretty_text
    assert 'max_iters=10' in cfg.pretty_text  # the original is untouched
    again = pickle.loads(pickle.dumps(cached))  # dataloader workers
    assert again.pretty_text == cached.pretty_text
    assert text_cached(cached) is cached and text_cached(None) is None
