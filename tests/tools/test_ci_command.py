"""The README's test command is the one .ci/run runs, and it starts from a
fresh environment even when .venv exists."""
import os.path as osp
import re

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_readme_command_2_is_ci_verbatim():
    readme = open(osp.join(ROOT, 'README.md'), encoding='utf-8').read()
    blocks = re.findall(r'```bash\n(.*?)```', readme, re.S)
    commands = [line for block in blocks[:2] for line in block.splitlines()
                if line and not line.startswith('#')]
    ci = open(osp.join(ROOT, '.ci', 'run'), encoding='utf-8').read()
    ci_lines = ci.split('# --- README command 2 (keep identical to '
                        'README.md) ---\n', 1)[1].strip().splitlines()
    assert ci_lines == [commands[1]]
    assert commands[1].startswith('python3 -m venv --clear .venv && ')
    # Debian's chromium for the demo's browser test comes before it
    assert ci.index('apt-get install') < ci.index(commands[1])
