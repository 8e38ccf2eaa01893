"""Run a committed stack's program for a command: its files, lock, output folder and user errors.

Every command that runs the program goes through here: `run_or_exit` turns what a user can
fix (bad settings, stack file, StackReference, state, unsafe path) into one `error:` line and
exit code 2, never a traceback; `run_and_write` is the run + write of `preview` and `check`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from stacks.settings.errors import SettingsError
from stacks.settings.stack import PROJECT

from . import artefacts, safefs, stackfile
from .runtime import PROJECT_DIR, RunResult, StackOutputs, StackReferenceError, run_program, work_dir
from .state import StackState, StateError

USER_ERRORS = (
    SettingsError,
    stackfile.StackFileError,
    StackReferenceError,
    StateError,
    safefs.UnsafePathError,
)
"""What a command reports as `error: ...` (exit 2) instead of a traceback."""

REFERENCE_KEY = f"{PROJECT}:releaseFrom"
"""The setting that makes a stack read its release through a StackReference."""

T = TypeVar("T")
Command = Callable[[argparse.Namespace], int]


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
        state = StackState(
            state_path if state_path is not None else default_state(stack, project_dir),
            secrets=cfg.secret_values(),
        )
        try:
            result = run_program(stack, config, cfg.secrets, state, stack_outputs=stack_outputs)
        except StackReferenceError as err:
            raise _naming_the_setting(err, config) from None
        state.save()
        return result


def _naming_the_setting(err: StackReferenceError, config: dict[str, str]) -> StackReferenceError:
    """The program reads a StackReference only for `mindie:releaseFrom`: say so in the message."""
    reference = config.get(REFERENCE_KEY)
    return StackReferenceError(f"{REFERENCE_KEY} = {reference!r}: {err}") if reference else err


def protected_dirs(stack: str, state_path: Path | None = None) -> list[Path]:
    """Folders an --out may never be, nor be above: the project, the stack files' folder, the
    state folder (and the home folder)."""
    state = state_path if state_path is not None else default_state(stack)
    return [
        PROJECT_DIR,
        PROJECT_DIR / ".git",
        work_dir(),
        work_dir() / ".mindie",
        stackfile.stack_dir(),
        state.parent,
        Path.home(),
    ]


def check_out(out: Path, stack: str, state_path: Path | None = None) -> None:
    """Refuse an unsafe --out before anything runs (see safefs.check_out_dir)."""
    safefs.check_out_dir(out, protected_dirs(stack, state_path))


def write_atomically(
    result: RunResult, out: Path, protected: list[Path] | None = None, extra: dict[str, str] | None = None
) -> None:
    """Write into a fresh marked sibling folder, then swap it in: `out` is never half-written,
    never absent, and only ever replaced when it is empty or this tool's (checked again here)."""
    safefs.check_out_dir(out, protected if protected is not None else protected_dirs(result.stack))
    staging = safefs.new_staging_dir(out)
    try:
        artefacts.write_all(result, staging)
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


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """--stack, --out and --state of a command that runs and writes a stack (`run_and_write`)."""
    parser.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--out", type=Path, help="output directory (default build/<stack>, under $MINDIE_STACK_DIR when set)"
    )
    parser.add_argument(
        "--state",
        type=Path,
        help="offline state file (default .mindie/state/<stack>.json, under $MINDIE_STACK_DIR when set)",
    )


def run_or_exit(command: Command) -> Command:
    """A command's main whose user errors are an `error: ...` line and exit code 2, no traceback."""

    @functools.wraps(command)
    def main(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except USER_ERRORS as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return main


@dataclass
class Ran(Generic[T]):
    """A run written to `out`, with what `analyse` made of it."""

    result: RunResult
    out: Path
    analysis: T


Analyse = Callable[[RunResult], tuple[T, dict[str, str]]]
"""What a command makes of a run before it is written: a value, and files to write beside it."""


def nothing(_result: RunResult) -> tuple[None, dict[str, str]]:
    """The analysis of a command that only writes the run (`preview`)."""
    return None, {}


def silent(_message: str) -> None:
    return None


def run_and_write(
    args: argparse.Namespace, analyse: Analyse[T], say: Callable[[str], None] = silent
) -> Ran[T]:
    """Run `args.stack` (state `args.state`) and write its artefacts, plus the files `analyse`
    makes of the run, to `args.out` (default build/<stack>) in one swap, under the stack's lock.
    The output folder is checked before anything is created and again at the swap."""
    stackfile.check_stack_name(args.stack)
    out = args.out or default_out(args.stack)
    check_out(out, args.stack, args.state)
    with reported(), locked(args.stack):
        say("running the program offline")
        result = run_stack(args.stack, args.state)
        analysis, files = analyse(result)
        say(f"writing {out}")
        write_atomically(result, out, protected_dirs(args.stack, args.state), extra=files)
    return Ran(result, out, analysis)
