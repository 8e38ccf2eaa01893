"""`mindiectl secret --stack S KEY [--file F]`: `pulumi config set --secret --path` without the CLI.

Creating a staging or prod stack needs its root CA key as a secret before anything
else validates; this writes it encrypted with Pulumi's passphrase provider
(PULUMI_CONFIG_PASSPHRASE), exactly as the CLI would, keeping the file's comments.
The value comes from a file or standard input and is never echoed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stacks.settings.stack import PROJECT

from . import safefs, stackfile
from .stack_run import locked, run_or_exit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("secret")
    p.add_argument(
        "--stack", required=True, help="stack name (writes Pulumi.<stack>.yaml, created if absent)"
    )
    p.add_argument("key", help=f"config path, e.g. '{PROJECT}:tls.rootCa.keyPem'")
    p.add_argument("--file", type=Path, help="read the value from this file (default: standard input)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a whole mapping or list, or a scalar on the way, with the secret",
    )
    p.set_defaults(func=main)


MAX_SECRET_BYTES = 64 * 1024
"""Largest secret value (a PEM key is a few KiB)."""


@run_or_exit
def main(args: argparse.Namespace) -> int:
    if not args.key.startswith(f"{PROJECT}:") or args.key == f"{PROJECT}:":
        form = f"'{PROJECT}:<setting>[.<path>]'"
        raise stackfile.StackFileError(f"{stackfile.excerpt(args.key)}: the key must be a {form} config path")
    path = stackfile.stack_path(args.stack)
    if args.file:
        data = safefs.read_limited(args.file, MAX_SECRET_BYTES, "secret value")
    else:
        data = safefs.read_stream_limited(sys.stdin.buffer, MAX_SECRET_BYTES, "standard input")
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise stackfile.StackFileError(f"{args.key}: the value is not UTF-8 text") from None
    if not value:
        raise stackfile.StackFileError(f"{args.key}: empty value")
    with locked(args.stack):
        stackfile.set_secret(path, args.key, value, force=args.force)
    print(f"stored {args.key} encrypted in {path.name}")
    return 0
