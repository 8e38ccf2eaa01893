"""`mindiectl preview --stack <name> [--out DIR]`: the offline `pulumi preview`.

Runs the unchanged `__main__.py` under the mock runtime with the config of
`Pulumi.<name>.yaml`, prints the resource tree and outputs, and writes every
artefact under DIR (default build/<name>/). On a bad config it prints the
validation message, exits 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from stacks.settings.errors import SettingsError

from . import render, safefs, stackfile
from .runtime import PROJECT_DIR, RunResult, StackOutputs, StackReferenceError, run_program, work_dir
from .state import StackState, StateError

USER_ERRORS = (SettingsError, stackfile.StackFileError, StackReferenceError, StateError,
               safefs.UnsafePathError)
"""What a command reports as `error: ...` (exit 2) instead of a traceback."""


def default_out(stack: str, project_dir: Path | None = None) -> Path:
    """build/<stack> next to the stack files (under $MINDIE_STACK_DIR when set)."""
    return (project_dir or work_dir()) / "build" / stack


def default_state(stack: str, project_dir: Path | None = None) -> Path:
    """.mindie/state/<stack>.json next to the stack files (under $MINDIE_STACK_DIR when set):
    a copy of the stacks never mixes its generated keys with the committed stacks' state."""
    return (project_dir or work_dir()) / ".mindie" / "state" / f"{stack}.json"


def lock_dir(project_dir: Path | None = None) -> Path:
    """.mindie/locks/ next to the stack files: one OS lock file per stack."""
    return (project_dir or work_dir()) / ".mindie" / "locks"


def locked(stack: str, project_dir: Path | None = None) -> contextlib.AbstractContextManager[None]:
    """The per-stack lock every command that writes a stack's files, state or output holds."""
    stackfile.check_stack_name(stack)
    return safefs.stack_lock(stack, lock_dir(project_dir))


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
    with locked(stack, project_dir):
        cfg = stackfile.load(stack, project_dir)
        config = {**cfg.config, **(overrides or {})}
        state = StackState(state_path if state_path is not None else default_state(stack, project_dir),
                           secrets=cfg.secret_values())
        result = run_program(stack, config, cfg.secrets, state, stack_outputs=stack_outputs)
        state.save()
        return result


def protected_dirs(stack: str, state_path: Path | None = None) -> list[Path]:
    """Folders an --out may never be, nor be above: the project, the stack files' folder, the
    state folder (and the home folder)."""
    state = state_path if state_path is not None else default_state(stack)
    return [PROJECT_DIR, PROJECT_DIR / ".git", work_dir(), work_dir() / ".mindie", stackfile.stack_dir(),
            state.parent, Path.home()]


def check_out(out: Path, stack: str, state_path: Path | None = None) -> None:
    """Refuse an unsafe --out before anything runs (see safefs.check_out_dir)."""
    safefs.check_out_dir(out, protected_dirs(stack, state_path))


def write_atomically(result: RunResult, out: Path, protected: list[Path] | None = None,
                     extra: dict[str, str] | None = None) -> None:
    """Write into a fresh marked sibling folder, then swap it in: `out` is never half-written,
    never absent, and only ever replaced when it is empty or this tool's (checked again here)."""
    safefs.check_out_dir(out, protected if protected is not None else protected_dirs(result.stack))
    staging = safefs.new_staging_dir(out)
    try:
        render.write_all(result, staging)
        for name, text in (extra or {}).items():
            (staging / name).write_text(text)
        safefs.replace_dir(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Turn an OS error writing the user's files into an `error:` line (exit 2), no traceback."""
    try:
        yield
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        raise safefs.UnsafePathError(f"{where}cannot write ({err.strerror or err})") from None


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
        stackfile.check_stack_name(args.stack)
        out = args.out or default_out(args.stack)
        check_out(out, args.stack, args.state)  # before anything is created (checked again at the swap)
        with reported(), locked(args.stack):
            result = run_stack(args.stack, args.state)
            write_atomically(result, out, protected_dirs(args.stack, args.state))
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
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
