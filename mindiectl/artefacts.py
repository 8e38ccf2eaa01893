"""Write every artefact of a run into an output folder: the one writer module.

    manifests/*.yaml, resources.json, outputs.json   mindiectl/render.py
    graph.mmd, graph.dot                             mindiectl/diagrams.py
    images/                                          mindiectl/image_files.py
    tls/                                             mindiectl/tls_files.py

Every file is a pure function of the run's result, sorted, so two previews of an
unchanged stack are identical byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import diagrams, image_files, render, tls_files
from .runtime import RunResult


def write_all(result: RunResult, out: Path) -> None:
    """Write every artefact of a run under `out` (which must exist and be empty)."""
    manifest_dir = out / "manifests"
    manifest_dir.mkdir(parents=True)
    for filename, manifest in render.manifests(result).items():
        (manifest_dir / filename).write_text(render.dump_yaml(manifest))
    records = [render.resource_record(r) for r in result.resources]
    (out / "resources.json").write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    outputs = render.stack_outputs(result)
    (out / "outputs.json").write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    (out / "graph.mmd").write_text(diagrams.mermaid(result))
    (out / "graph.dot").write_text(diagrams.dot(result))
    image_files.write_images(result, out)
    tls_files.write_tls(result, out)
