"""Shared fixtures: run the real program under the mock runtime, per test.

`run_stack` re-runs `__main__.py` for a committed stack with config overrides.
The offline state file is shared for the whole session, so slow generated
material (RSA-4096 keys) is made once and reused, as Pulumi state would.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mindiectl import stackfile
from mindiectl.runtime import PROJECT_DIR, RunResult, run_program
from mindiectl.state import StackState

from .helpers import DELETE, DEMO_PASSPHRASE, Secret, copy_stacks, infer_server, match_image_to_npu, set_path

# The committed staging/prod stacks hold demo secrets under a documented demo passphrase
# (docs/tls.md), as `pulumi up` would need PULUMI_CONFIG_PASSPHRASE.
os.environ.setdefault(stackfile.PASSPHRASE_ENV, DEMO_PASSPHRASE)


class KeyCache(dict):
    """Test keys shared by every xdist worker and every run on this machine: one RSA-4096 key per
    (algorithm, size, resource name), generated once (~1 s each, ~3 s on a loaded machine) and kept
    in a per-machine folder outside the repository (0700, keys 0600). Only tests use it; a preview
    or `pulumi up` always generates its own keys."""

    def __init__(self, folder: Path):
        super().__init__()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        self.folder = folder

    def _file(self, slot: tuple) -> Path:
        return self.folder / (hashlib.sha256(repr(slot).encode()).hexdigest() + ".pem")

    def __contains__(self, slot: object) -> bool:
        if super().__contains__(slot):
            return True
        file = self._file(slot)  # type: ignore[arg-type]
        if file.is_file() and file.stat().st_size:
            super().__setitem__(slot, file.read_text())
            return True
        return False

    def __setitem__(self, slot: tuple, pem: str) -> None:
        super().__setitem__(slot, pem)
        fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".key-")  # mode 0600
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
        os.replace(temp, self._file(slot))  # a concurrent worker's key is as good: last one wins


def key_cache_dir() -> Path:
    base = os.environ.get("MINDIE_TEST_KEY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mindie-test-keys"
    )
    return Path(base)


@pytest.fixture(scope="session", autouse=True)
def shared_keys():
    """Generated keys shared across the session's stacks and state files, every worker and every
    run (KeyCache): only the first run on a machine pays for key generation."""
    from mindiectl.emulators import tls

    tls.KEY_POOL = KeyCache(key_cache_dir())
    yield tls.KEY_POOL
    tls.KEY_POOL = None


@pytest.fixture(scope="session")
def session_state(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], StackState]:
    root = tmp_path_factory.mktemp("state")
    states: dict[str, StackState] = {}

    def get(stack: str) -> StackState:
        if stack not in states:
            states[stack] = StackState(root / f"{stack}.json")
        return states[stack]

    return get


@pytest.fixture(scope="session")
def committed_runs() -> dict[str, RunResult]:
    """Runs of a stack exactly as its file stands (keyed on the file's path and bytes), made once
    per worker: the program is deterministic for an unchanged stack and state (two previews are
    byte-identical, tested), so every test that reads the unmodified stack shares one run and
    gets its own deep copy."""
    return {}


@pytest.fixture
def run_stack(session_state, committed_runs) -> Callable[..., RunResult]:
    """run_stack(stack="dev", overrides={"mindie:key": value or object}, server={"a.b": v}).

    An override wrapped in `Secret(...)` is entered as a secret; any other override keeps the
    stack file's secretness of its key (a plain override of a secret key stays secret, like
    `pulumi config set --path` of a non-secret value under a key that holds secure values)."""

    def run(
        stack: str = "dev",
        overrides: dict[str, Any] | None = None,
        server: dict[str, Any] | None = None,
    ) -> RunResult:
        if not overrides and not server:
            path = stackfile.stack_path(stack)
            key = f"{path}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
            if key not in committed_runs:
                committed_runs[key] = run_modified(stack, None, None)
            return copy.deepcopy(committed_runs[key])
        return run_modified(stack, overrides, server)

    def run_modified(
        stack: str, overrides: dict[str, Any] | None, server: dict[str, Any] | None
    ) -> RunResult:
        config, secret = modified_config(stack, overrides, server)
        return run_program(stack, config, secret, session_state(stack))

    return run


def modified_config(
    stack: str, overrides: dict[str, Any] | None, server: dict[str, Any] | None
) -> tuple[dict[str, str], list[str]]:
    """(config, secret keys) of the stack file with run_stack's overrides applied."""
    cfg = stackfile.load(stack)
    config = dict(cfg.config)
    secret = list(cfg.secrets)  # leaf by leaf, as mindiectl passes them
    if server:
        body = infer_server(stack)
        for dotted, value in server.items():
            set_path(body, dotted, value)
        config["mindie:inferServer"] = json.dumps(body)
    for key, value in (overrides or {}).items():
        if value is DELETE:
            config.pop(key, None)
            continue
        if isinstance(value, Secret):
            value = value.value
            secret.append(key)
        config[key] = value if isinstance(value, str) else json.dumps(value)
    if "mindie:servers" not in (overrides or {}):
        config = match_image_to_npu(config)
    return config, secret


@pytest.fixture
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture
def stack_copy(tmp_path: Path, monkeypatch) -> Path:
    """A scratch copy of the committed stack files (tmp_path/stacks), the test's $MINDIE_STACK_DIR:
    its build/ and .mindie/ live there too."""
    folder = copy_stacks(tmp_path / "stacks")
    monkeypatch.setenv("MINDIE_STACK_DIR", str(folder))
    return folder
