"""mindiectl: offline commands for the MindIE Pulumi program (preview, import, export, ...)."""

import sys
from pathlib import Path

# The program's own packages (stacks/, components/) sit beside this one.
_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)
