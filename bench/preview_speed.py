"""Benchmark (run by hand): offline preview of a stack against the bare import floor.

    python bench/preview_speed.py [--stack prod] [--runs 5]

Reports, from one run, the median wall time of
  1. `python -c "import pulumi, pulumi_kubernetes, pulumi_tls, pulumi_docker"` (the floor), and
  2. `python -m mindiectl preview --stack <stack> --quiet` on an unchanged stack (state warm),
and their ratio. Target: ratio <= 1.5.
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
        warm = statistics.median(timed(preview) for _ in range(args.runs))
    print(f"import floor     : {floor:.3f} s (median of {args.runs})")
    print(f"preview {args.stack:<8} : {warm:.3f} s (median of {args.runs}, unchanged stack)")
    print(f"ratio            : {warm / floor:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
