"""Session fixtures of the `apiserver` tier: every committed stack previewed by the CLI, and one
control plane (tests/apiserver/controlplane.py) that trusts each stack's root CA for client
certificates, so the kubeclient certificate the CA component issues can authenticate to it.

Previews write to a temporary directory with a temporary offline state: the committed stacks'
build/ and .mindie/ are not touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import STACKS
from .controlplane import REPO, ControlPlane, ControlPlaneError, binaries_dir

PREVIEW_TIMEOUT = 600
START_ATTEMPTS = 3


@pytest.fixture(scope="session")
def previews(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """stack -> the folder `python -m mindiectl preview --stack <s> --out <folder>` wrote (in parallel)."""
    root = tmp_path_factory.mktemp("previews")
    procs = {}
    for stack in STACKS:
        log = open(root / f"{stack}.log", "wb")  # noqa: SIM115 - closed below
        procs[stack] = (
            log,
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mindiectl",
                    "preview",
                    "--stack",
                    stack,
                    "--quiet",
                    "--out",
                    str(root / stack),
                    "--state",
                    str(root / "state" / f"{stack}.json"),
                ],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=os.environ.copy(),
            ),
        )
    failed = []
    for stack, (log, proc) in procs.items():
        try:
            code = proc.wait(PREVIEW_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = f"timeout after {PREVIEW_TIMEOUT} s"
        log.close()
        if code != 0:
            failed.append(f"preview --stack {stack}: {code}\n{(root / f'{stack}.log').read_text()[-2000:]}")
    if failed:
        pytest.fail("\n".join(failed))
    return {stack: root / stack for stack in STACKS}


@pytest.fixture(scope="session")
def control_plane(previews: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    try:
        bin_dir = binaries_dir()
    except ControlPlaneError as err:
        pytest.fail(f"no control plane binaries: {err}")
    errors = []
    for _ in range(START_ATTEMPTS):  # a free port can be taken between probing and binding it
        try:
            plane = ControlPlane(
                bin_dir=bin_dir,
                work=tmp_path_factory.mktemp("controlplane"),
                client_cas=[previews[s] / "tls" / "root" / "cert.pem" for s in STACKS],
            ).start()
            break
        except ControlPlaneError as err:
            errors.append(str(err))
    else:
        pytest.fail("the control plane did not start:\n" + "\n---\n".join(errors))
    try:
        yield plane
    finally:
        plane.stop()
