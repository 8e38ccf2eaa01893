"""python -m mindiectl <command> ...: offline commands for the MindIE Pulumi program."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

COMMANDS: dict[str, tuple[str, str]] = {
    "preview": ("preview", "run the program offline and write what `pulumi up` would create"),
    "check": ("check", "offline preview + policies + strict schema + hadolint + MindIE's start-up contract"),
    "import": ("legacy", "write an infer_server.json into a stack's config"),
    "export": ("legacy", "print a stack's infer_server.json for msctl"),
    "promote": ("promote", "copy the release settings of one stack into the next stage"),
    "secret": (
        "secret_command",
        "store an encrypted config value (like `pulumi config set --secret --path`)",
    ),
    "graph": ("graph", "print the resource graph (Mermaid/DOT) or refresh the README diagram"),
    "docs": ("docs", "regenerate docs/config-reference.md from the settings model"),
}
"""command -> (module under mindiectl/ whose `register(subparsers)` adds it, one-line summary).

Only the module of the command being run is imported, so `--help` and light commands never load
Pulumi or the policy pack."""


EPILOG = """\
environment:
  MINDIE_STACK_DIR          directory holding the Pulumi.<stack>.yaml files (default: the project).
                            When set, build/<stack>/ and .mindie/state/<stack>.json default to live
                            under it too, so a copy of the stacks never mixes its generated keys and
                            artefacts with the committed stacks'.
  PULUMI_CONFIG_PASSPHRASE  decrypts the stacks' `secure:` values (as the Pulumi CLI does).
"""


class Subcommands:
    """The subparsers as a command module sees them: the summary of each command comes from
    COMMANDS (its one home) as both its list entry and the first line of `<command> --help`."""

    def __init__(self, sub: argparse._SubParsersAction) -> None:
        self._sub = sub

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        summary = COMMANDS[name][1]
        kwargs.setdefault("description", summary)
        return self._sub.add_parser(name, help=summary, **kwargs)


def register_module(module: str, sub: argparse._SubParsersAction) -> None:
    importlib.import_module(f"mindiectl.{module}").register(Subcommands(sub))


def build_parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mindiectl",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    if command in COMMANDS:
        register_module(COMMANDS[command][0], sub)
    for name, (_, summary) in COMMANDS.items():  # the others are listed, not loaded
        if name not in sub.choices:
            sub.add_parser(name, help=summary)
    return parser


def chosen_command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(chosen_command(argv)).parse_args(argv)
    try:
        return args.func(args)
    except OSError as err:  # a file the command could not read or write: a message, no traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
