"""The README's two set-up commands, run exactly as written in a brand-new virtualenv.

Slow (it installs from the package index and runs the default test suite once more), so it is the
`readme` tier: `python -m pytest -m readme -q`, which `.ci/run` runs. It keeps the README honest:
the first command must work with what `requirements.txt` alone installs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from mindiectl.runtime import PROJECT_DIR

pytestmark = pytest.mark.readme

FIRST_SCREEN = "## Set up on a fresh machine"


def readme_commands(readme: str) -> list[str]:
    """The commands of the first ```bash block under the set-up heading, comments stripped."""
    section = readme[readme.index(FIRST_SCREEN) :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the set-up section has no ```bash block"
    commands = [re.sub(r"\s+#.*\Z", "", line).strip() for line in block.group(1).splitlines()]
    return [c for c in commands if c]


def test_the_readme_gives_exactly_two_set_up_commands():
    commands = readme_commands((PROJECT_DIR / "README.md").read_text())
    assert len(commands) == 2, commands
    assert commands[0].startswith("pip install -r requirements.txt && ")
    assert commands[1].startswith("pip install -r requirements-dev.txt && ")


def project_copy(dest: Path) -> Path:
    """What a fresh clone holds: the tracked and the new (not ignored) files, nothing generated."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"],
            cwd=PROJECT_DIR,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = PROJECT_DIR / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def run_in_venv(command: str, cwd: Path, env_dir: Path, timeout: int) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PULUMI_CONFIG_PASSPHRASE",
            "PULUMI_CONFIG_PASSPHRASE_FILE",
            "PYTHONPATH",
            "VIRTUAL_ENV",
            "PYTEST_XDIST_WORKER",
            "PYTEST_CURRENT_TEST",
        )
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    activate = f". {env_dir}/bin/activate"
    return subprocess.run(
        ["bash", "-c", f"{activate} && {command}"],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fresh")
    project = project_copy(root / "project")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    return project, env_dir


def test_first_command_previews_dev_in_a_bare_virtualenv(fresh):
    project, env_dir = fresh
    first = readme_commands((project / "README.md").read_text())[0]
    done = run_in_venv(first, project, env_dir, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (project / "build/dev/manifests").is_dir()
    assert "Traceback" not in done.stderr
    # only requirements.txt is installed: no test tool came along
    listed = run_in_venv("python -m pip list --format=freeze", project, env_dir, timeout=120).stdout
    assert "pytest" not in listed.lower()


def test_second_command_runs_the_tests_in_that_virtualenv(fresh):
    project, env_dir = fresh
    second = readme_commands((project / "README.md").read_text())[1]
    done = run_in_venv(second, project, env_dir, timeout=1800)
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert re.search(r"^\d+ passed", done.stdout.splitlines()[-1]), tail
