"""Install vpd: ``pip install -e .`` (runtime) or ``pip install -e .[tests]``."""
import os.path as osp

from setuptools import find_packages, setup


def parse_requirements(fname: str) -> list:
    """Read one requirements file, following its ``-r`` includes (relative
    to the file, as pip does) and skipping comments and other options."""
    here = osp.dirname(osp.abspath(__file__))
    path = osp.join(here, fname)
    reqs = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line.startswith('-r '):
                include = osp.join(osp.dirname(path), line[3:].strip())
                reqs += parse_requirements(osp.relpath(include, here))
            elif line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def read_version() -> str:
    here = osp.dirname(osp.abspath(__file__))
    with open(osp.join(here, 'vpd', '__init__.py'), encoding='utf-8') as f:
        for line in f:
            if line.startswith('__version__'):
                return line.split('=')[1].strip().strip("'\"")
    raise RuntimeError('vpd/__init__.py has no __version__')


setup(
    name='vpd',
    version=read_version(),
    description='Diffusion models as perception backbones: VPD and Meta '
    'Prompts for monocular depth, semantic segmentation and (Meta Prompts) '
    'top-down human pose.',
    long_description=open('README.md', encoding='utf-8').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    include_package_data=True,
    package_data={'vpd': ['models/backbones/presets/*.json']},
    python_requires='>=3.9',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': parse_requirements('requirements/tests.txt'),
        'demo': parse_requirements('requirements/demo.txt'),
        'tensorboard': parse_requirements('requirements/tensorboard.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
