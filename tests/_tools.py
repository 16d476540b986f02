"""Import a script of ``tools/`` as a module (the scripts are not a package).

Test files use ``from _tools import load_tool`` (``tests/`` is put on
``sys.path`` by ``conftest.py``).
"""
import importlib.util
import os.path as osp
import sys
from types import ModuleType

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(*parts: str) -> ModuleType:
    """Load ``tools/<parts...>.py``, e.g. ``load_tool('download')`` or
    ``load_tool('dataset_converters', 'nyu')``.

    The module is registered in ``sys.modules`` under its file name before it
    runs (dataclasses look their module up there).
    """
    path = osp.join(ROOT, 'tools', *parts[:-1], f'{parts[-1]}.py')
    if not osp.isfile(path):
        raise FileNotFoundError(f'No tool script {path}')
    name = f'vpd_tools_{parts[-1]}'
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
