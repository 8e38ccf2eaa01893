"""`mindiectl preview --stack <name> [--out DIR]`: the offline `pulumi preview`.

Runs the unchanged `__main__.py` under the mock runtime with the config of
`Pulumi.<name>.yaml`, prints the resource tree and outputs, and writes every
artefact under DIR (default build/<name>/). On a bad config it prints the
validation message, exits 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from stacks.errors import SettingsError

from . import render, stackfile
from .runtime import RunResult, StackOutputs, StackReferenceError, run_program, work_dir
from .state import StackState


def default_out(stack: str, project_dir: Path | None = None) -> Path:
    """build/<stack> next to the stack files (under $MINDIE_STACK_DIR when set)."""
    return (project_dir or work_dir()) / "build" / stack


def default_state(stack: str, project_dir: Path | None = None) -> Path:
    """.mindie/state/<stack>.json next to the stack files (under $MINDIE_STACK_DIR when set):
    a copy of the stacks never mixes its generated keys with the committed stacks' state."""
    return (project_dir or work_dir()) / ".mindie" / "state" / f"{stack}.json"


def run_stack(
    stack: str,
    state_path: Path | None = None,
    overrides: dict[str, str] | None = None,
    project_dir: Path | None = None,
    stack_outputs: StackOutputs | None = None,
) -> RunResult:
    """Load a committed stack's config and run the program on it (SettingsError propagates).

    `stack_outputs` answers StackReference reads (default: build/<stack>/outputs.json).
    """
    cfg = stackfile.load(stack, project_dir)
    config = {**cfg.config, **(overrides or {})}
    state = StackState(state_path if state_path is not None else default_state(stack, project_dir))
    result = run_program(stack, config, cfg.secret_keys, state, stack_outputs=stack_outputs)
    state.save()
    return result


def write_atomically(result: RunResult, out: Path) -> None:
    """Write into a fresh sibling directory, then swap it in: never a half-written out dir."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        render.write_all(result, staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview")
    p.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    p.add_argument("--out", type=Path,
                   help="output directory (default build/<stack>, under $MINDIE_STACK_DIR when set)")
    p.add_argument("--state", type=Path,
                   help="offline state file (default .mindie/state/<stack>.json, under "
                   "$MINDIE_STACK_DIR when set)")
    p.add_argument("--quiet", action="store_true", help="print only the summary line")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        result = run_stack(args.stack, args.state)
    except (SettingsError, stackfile.StackFileError, StackReferenceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or default_out(args.stack)
    write_atomically(result, out)
    if not args.quiet:
        print(f"Previewing stack {args.stack} offline (Pulumi mock runtime, same __main__.py)\n")
        print(render.tree(result))
        print()
        print(render.outputs_text(result))
        for line in result.logs:
            print(line)
        for note in result.notes:
            print(f"note: {note}")
        print()
    reads = sum(1 for r in result.resources if r.read)
    creates = len(result.resources) - reads + 1
    read_text = f", > {reads} to read" if reads else ""
    print(f"Resources: + {creates} to create{read_text}; written to {out}")
    return 0
