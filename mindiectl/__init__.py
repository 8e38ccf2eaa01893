"""mindiectl: offline commands for the MindIE Pulumi program (preview, import, export, ...).

Each layer imports only those below it (tests/test_preview.py walks the imports):

    __main__      the command table; loads only the module of the command being run
    commands      preview, check (+ conformance, schema), graph, promote, legacy, secret_command, docs
    stack_run     a stack run for a command: files, lock, state, output folder, run_or_exit
    stackfile     the Pulumi.<stack>.yaml files: read, decrypt, edit
    artefacts     the one writer: render (manifests, records, outputs, tree), diagrams, tls_files,
                  image_files
    runtime       the program under Pulumi's mock runtime, emulators/, state, secret_values
    safefs, plain_json, progress: helpers
"""

import sys
from pathlib import Path

# The program's own packages (stacks/, components/) sit beside this one.
_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)
