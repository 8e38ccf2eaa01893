"""`mindiectl preview --stack <name> [--out DIR]`: the offline `pulumi preview`.

Runs the unchanged `__main__.py` under the mock runtime with the config of
`Pulumi.<name>.yaml`, prints the resource tree and outputs, and writes every
artefact under DIR (default build/<name>/). On a bad config it prints the
validation message, exits 2 and writes nothing.
"""

from __future__ import annotations

import argparse

from . import render
from .stack_run import add_run_arguments, nothing, run_and_write, run_or_exit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview")
    add_run_arguments(p)
    p.add_argument("--quiet", action="store_true", help="print only the summary line")
    p.set_defaults(func=main)


@run_or_exit
def main(args: argparse.Namespace) -> int:
    ran = run_and_write(args, nothing)
    result, out = ran.result, ran.out
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
