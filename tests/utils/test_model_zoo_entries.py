"""The model zoo, the metafiles and the converter formats agree."""
import os.path as osp

import pytest
import yaml
from mmengine.config import Config

from vpd.models.converters import SOURCE_FORMATS
from vpd.utils.model_zoo import MODEL_ZOO, zoo_entry

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TASK_ENTRIES = [name for name, e in MODEL_ZOO.items()
                if e['format'] in SOURCE_FORMATS]


def test_every_released_format_has_an_entry():
    formats = {MODEL_ZOO[n]['format'] for n in TASK_ENTRIES}
    supported = {n for n, f in SOURCE_FORMATS.items() if f.supported}
    assert supported <= formats


@pytest.mark.parametrize('name', TASK_ENTRIES)
def test_entry_config_builds_the_model_its_format_needs(name):
    entry = zoo_entry(name)
    assert entry['url'] or entry.get('page'), name
    assert entry['config'] and osp.isfile(osp.join(ROOT, entry['config']))
    fmt = SOURCE_FORMATS[entry['format']]
    cfg = Config.fromfile(osp.join(ROOT, entry['config']))
    assert cfg.model.type == fmt.model_type
    assert cfg.model.conditioner.type == fmt.conditioner_type


@pytest.mark.parametrize('method', ['vpd', 'meta_prompts'])
def test_metafile_zoo_names_and_configs(method):
    with open(osp.join(ROOT, 'configs', method, 'metafile.yaml')) as f:
        meta = yaml.safe_load(f)
    named = 0
    for model in meta['Models']:
        assert osp.isfile(osp.join(ROOT, model['Config'])), model['Name']
        zoo = model.get('Zoo Name')
        if zoo is None:
            continue
        named += 1
        entry = zoo_entry(zoo)
        assert model['Converted From']['Format'] == entry['format']
        assert model['Weights'] in (entry['url'], entry.get('page'))
    assert named >= 3
