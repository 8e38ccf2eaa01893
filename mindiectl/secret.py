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

from stacks.settings import PROJECT

from . import stackfile


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("secret")
    p.add_argument(
        "--stack", required=True, help="stack name (writes Pulumi.<stack>.yaml, created if absent)"
    )
    p.add_argument("key", help=f"config path, e.g. '{PROJECT}:tls.rootCa.keyPem'")
    p.add_argument("--file", type=Path, help="read the value from this file (default: standard input)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if not args.key.startswith(f"{PROJECT}:") or args.key == f"{PROJECT}:":
        form = f"'{PROJECT}:<setting>[.<path>]'"
        print(f"error: {args.key!r}: the key must be a {form} config path", file=sys.stderr)
        return 2
    try:
        value = args.file.read_text() if args.file else sys.stdin.read()
    except OSError as err:
        print(f"error: {args.file}: cannot read ({err.strerror})", file=sys.stderr)
        return 2
    if not value:
        print(f"error: {args.key}: empty value", file=sys.stderr)
        return 2
    path = stackfile.stack_path(args.stack)
    try:
        stackfile.set_secret(path, args.key, value)
    except stackfile.StackFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"stored {args.key} encrypted in {path.name}")
    return 0
