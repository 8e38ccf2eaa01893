"""`mindiectl graph --stack <name>`: print the resource graph or refresh the README's diagram.

The text itself is mindiectl/diagrams.py's; this module runs the stack and prints or writes it.
"""

from __future__ import annotations

import argparse

from . import diagrams
from .runtime import PROJECT_DIR
from .safefs import atomic_write
from .stack_run import run_or_exit, run_stack

FORMATS = {"mermaid": diagrams.mermaid, "dot": diagrams.dot, "components": diagrams.components}


def register(sub) -> None:
    p = sub.add_parser("graph")
    p.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    p.add_argument(
        "--format",
        choices=list(FORMATS),
        default="components",
        help="mermaid/dot: every resource; components: the component diagram (default)",
    )
    p.add_argument("--readme", action="store_true", help="rewrite the README's component diagram")
    p.set_defaults(func=main)


@run_or_exit
def main(args: argparse.Namespace) -> int:
    result = run_stack(args.stack)
    if args.readme:
        path = PROJECT_DIR / "README.md"
        atomic_write(path, diagrams.update_readme(path.read_text(), result))  # README: never half-written
        print(f"updated {path.name}")
        return 0
    print(FORMATS[args.format](result), end="")
    return 0
