"""python -m mindiectl <command> ...: offline commands for the MindIE Pulumi program."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["preview", "legacy", "graph", "docs", "check", "promote"]
"""Modules under mindiectl/ that each `register(subparsers)` their commands."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mindiectl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"mindiectl.{name}").register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
