"""Benchmark (run by hand; figures in docs/performance.md): where an offline preview's time goes.

    PULUMI_CONFIG_PASSPHRASE=mindie-demo-passphrase python bench/preview_speed.py [--runs 5]
    python bench/preview_speed.py --growth-only

One run prints, each a median of --runs fresh processes (warm offline state, unchanged stack):
  floor: bare SDK    `import pulumi`: the interpreter plus the SDK, nothing declared;
  floor: program     every third-party module a preview of the stack really imports (read from a
                     preview run, not listed by hand), imported by a fresh interpreter;
  key derivation     the passphrase KDF (PBKDF2, 1e6 rounds) that decrypts `secure:` values;
  preview <stack>    `python -m mindiectl preview --stack <stack> --quiet`;
  overhead           preview - program floor - key derivation (only stacks with secrets pay it):
                     what the mock runtime, the program and the writer cost on top of what any
                     program importing these modules must pay.
Growth: the dev stack with 1, 8 and 32 server instance groups, and one group with 1 vs 64 replicas:
the resource count per stack, the time per added group (least-squares slope) and the replica check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mindiectl import stackfile  # noqa: E402

STACKS = ("dev", "staging", "prod")
OUR_PACKAGES = ("mindiectl", "stacks", "components", "policy", "__main__", "__mp_main__")
LIST_MODULES = """\
import runpy, sys, json
sys.argv = ["mindiectl", "preview", "--stack", {stack!r}, "--quiet", "--out", {out!r}, "--state", {state!r}]
try:
    runpy.run_module("mindiectl", run_name="__main__")
except SystemExit:
    pass
importable = sorted(n for n, m in list(sys.modules.items()) if getattr(m, "__spec__", None))
json.dump(importable, open({dump!r}, "w"))
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def median(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    return statistics.median(timed(cmd, env) for _ in range(runs))


def preview_cmd(stack: str, tmp: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mindiectl",
        "preview",
        "--stack",
        stack,
        "--quiet",
        "--out",
        str(tmp / f"out-{stack}"),
        "--state",
        str(tmp / f"{stack}.json"),
    ]


def program_modules(stack: str, tmp: Path) -> list[str]:
    """Third-party top-level-reachable modules a preview imports (stdlib and ours excluded)."""
    dump = tmp / f"modules-{stack}.json"
    code = LIST_MODULES.format(
        stack=stack, out=str(tmp / f"out-{stack}"), state=str(tmp / f"{stack}.json"), dump=str(dump)
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    stdlib = set(sys.stdlib_module_names)
    return [
        m
        for m in json.loads(dump.read_text())
        if m.split(".")[0] not in stdlib and not m.startswith(OUR_PACKAGES) and not m.startswith("_")
    ]


def key_derivation(runs: int) -> float:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        stackfile._derive_key.__wrapped__(f"bench-{i}", b"saltsalt")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def has_secrets(stack: str) -> bool:
    return bool(stackfile.load(stack).secret_keys) if stackfile.read_passphrase() else False


def floors_and_stacks(runs: int, tmp: Path) -> None:
    bare = median([sys.executable, "-c", "import pulumi"], runs)
    kdf = key_derivation(runs)
    print(f"{'floor: bare SDK (import pulumi)':<40} {bare:7.3f} s")
    print(f"{'key derivation (PBKDF2 1e6)':<40} {kdf:7.3f} s")
    for stack in STACKS:
        if stack != "dev" and not stackfile.read_passphrase():
            print(f"preview {stack}: skipped (set PULUMI_CONFIG_PASSPHRASE for its demo secrets)")
            continue
        modules = program_modules(stack, tmp)  # also the cold run that fills the offline state
        floor = median([sys.executable, "-c", "import " + ", ".join(modules)], runs)
        warm = median(preview_cmd(stack, tmp), runs)
        paid_kdf = kdf if has_secrets(stack) else 0.0
        overhead = warm - floor - paid_kdf
        print(f"{'floor: program (' + stack + f', {len(modules)} modules)':<40} {floor:7.3f} s")
        print(
            f"{'preview ' + stack:<40} {warm:7.3f} s   {warm / bare:5.2f}x bare, "
            f"{warm / floor:5.2f}x program floor; overhead {overhead:.3f} s"
        )


def growth_stack(folder: Path, groups: int, replicas: int) -> None:
    """Pulumi.dev.yaml with `groups` instance groups in all (the main one + extraGroups)."""
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    config = doc["config"]
    config["mindie:inferServer"]["replicas"] = replicas
    base = config["mindie:inferServer"]
    config["mindie:servers"]["extraGroups"] = [
        {
            "server_name": f"{base['server_name']}-g{i}",
            "replicas": replicas,
            "resource_requests": base["resource_requests"],
            "service_port": 31100 + i,
        }
        for i in range(1, groups)
    ]
    (folder / "Pulumi.dev.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def growth(runs: int, tmp: Path) -> None:
    def measure(groups: int, replicas: int) -> tuple[int, float]:
        folder = tmp / f"growth-{groups}-{replicas}"
        folder.mkdir()
        growth_stack(folder, groups, replicas)
        env = {**os.environ, "MINDIE_STACK_DIR": str(folder)}
        cmd = [sys.executable, "-m", "mindiectl", "preview", "--stack", "dev", "--quiet"]
        timed(cmd, env)  # cold: keys for the new groups
        seconds = median(cmd, runs, env)
        count = len(json.loads((folder / "build/dev/resources.json").read_text()))
        shutil.rmtree(folder)
        return count, seconds

    points = []
    for groups in (1, 8, 32):
        count, seconds = measure(groups, 1)
        points.append((groups, seconds))
        print(f"{'growth: ' + str(groups) + ' group(s), 1 replica':<40} {seconds:7.3f} s   {count} resources")
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    print(f"{'growth: time per added group (slope)':<40} {slope * 1000:7.1f} ms")
    one, _ = measure(1, 1)
    many, seconds = measure(1, 64)
    print(
        f"{'growth: 1 group, 64 replicas':<40} {seconds:7.3f} s   {many} resources "
        f"({'same as' if many == one else 'DIFFERS from'} 1 replica: {one})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per median")
    parser.add_argument("--growth-only", action="store_true", help="only the growth figures")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, median of {args.runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.growth_only:
            floors_and_stacks(args.runs, Path(tmp))
        growth(args.runs, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
