"""Benchmark (run by hand): offline preview of a stack against the bare import floor.

    python bench/preview_speed.py [--stack prod] [--runs 5]

Reports, from one run, the median wall time of
  1. `python -c "import pulumi, pulumi_kubernetes, pulumi_tls, pulumi_docker"` (the floor), and
  2. `python -m mindiectl preview --stack <stack> --quiet` on an unchanged stack (state warm),
and their ratio. Target: ratio <= 1.5. Staging/prod hold demo secrets: set PULUMI_CONFIG_PASSPHRASE
(mindie-demo-passphrase for the committed stacks).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = [sys.executable, "-c", "import pulumi, pulumi_kubernetes, pulumi_tls, pulumi_docker"]
# pulumi_kubernetes loads its API groups lazily: the bare import above skips the modules every
# Kubernetes program pays for. This second floor imports the groups the program declares objects of.
PROGRAM_FLOOR = [
    sys.executable,
    "-c",
    "import pulumi, pulumi_tls, pulumi_docker, pulumi_kubernetes.core.v1, pulumi_kubernetes.apps.v1, "
    "pulumi_kubernetes.rbac.v1, pulumi_kubernetes.policy.v1, pulumi_kubernetes.networking.v1",
]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        preview = [sys.executable, "-m", "mindiectl", "preview", "--stack", args.stack, "--quiet",
                   "--out", f"{tmp}/out", "--state", f"{tmp}/state.json"]
        timed(preview)  # first run: generates keys, fills the offline state
        floor = statistics.median(timed(FLOOR) for _ in range(args.runs))
        program_floor = statistics.median(timed(PROGRAM_FLOOR) for _ in range(args.runs))
        warm = statistics.median(timed(preview) for _ in range(args.runs))
    print(f"import floor     : {floor:.3f} s (median of {args.runs})")
    print(f"preview {args.stack:<8} : {warm:.3f} s (median of {args.runs}, unchanged stack)")
    print(f"ratio            : {warm / floor:.2f}x (target <= 1.5x)")
    print(f"program floor    : {program_floor:.3f} s (the SDK modules the program declares objects of)")
    print(f"ratio to it      : {warm / program_floor:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
