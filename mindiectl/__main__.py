"""python -m mindiectl <command> ...: offline commands for the MindIE Pulumi program."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["preview", "legacy", "graph", "docs", "check", "promote", "secret"]
"""Modules under mindiectl/ that each `register(subparsers)` their commands."""


EPILOG = """\
environment:
  MINDIE_STACK_DIR          directory holding the Pulumi.<stack>.yaml files (default: the project).
                            When set, build/<stack>/ and .mindie/state/<stack>.json default to live
                            under it too, so a copy of the stacks never mixes its generated keys and
                            artefacts with the committed stacks'.
  PULUMI_CONFIG_PASSPHRASE  decrypts the stacks' `secure:` values (as the Pulumi CLI does).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindiectl", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"mindiectl.{name}").register(sub)
    for action in sub._choices_actions:  # `<command> --help` starts with its one-line summary
        command = sub.choices[action.dest]
        if command.description is None:
            command.description = action.help
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except OSError as err:  # a file the command could not read or write: a message, no traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
