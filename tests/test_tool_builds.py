"""tools/engine/build never caches a failed piece as built (with a stand-in `go`, in seconds).

Bash ignores `set -e` inside a function run as an `if` condition: a builder whose copy step failed
used to go on, return the status of its last command and be cached as done, without its binary.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mindiectl.runtime import PROJECT_DIR

BUILD = PROJECT_DIR / "tools" / "engine" / "build"

# Builds succeed (the -o file appears), `go run` succeeds, `go mod download` succeeds, and
# `go list -m -f {{.Dir}}` prints an empty line: a module not in the module cache.
FAKE_GO = """#!/bin/sh
case "$1" in
  version) echo "go version go1.26.0 linux/amd64" ;;
  build) while [ $# -gt 0 ]; do [ "$1" = -o ] && : >"$2" && chmod +x "$2"; shift; done ;;
  list) echo "" ;;
  *) exit 0 ;;
esac
"""


def run_build(tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "go").write_text(FAKE_GO)
    (fake / "go").chmod(0o755)
    cache = tmp_path / "cache"
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "MINDIE_TOOLS_CACHE": str(cache)}
    done = subprocess.run(["bash", str(BUILD)], env=env, capture_output=True, text=True, timeout=60)
    return done, cache


def test_a_piece_whose_module_source_is_missing_fails_and_is_not_cached(tmp_path):
    done, cache = run_build(tmp_path)
    assert done.returncode != 0, done.stderr
    assert "no source folder for github.com/pulumi/pulumi/sdk/v3" in done.stderr
    built = sorted(p.parent.name for p in (cache / "engine").glob("*/.done"))
    # the CLI piece really was built by the stand-in; the language host, which needs the sdk/v3
    # module's source, is not cached, and nothing later ran
    assert [b.rsplit("-", 1)[0] for b in built] == ["pulumi"], built
    assert not list((cache / "engine").glob("*.tmp.*")), "a failed piece leaves no scratch folder"
