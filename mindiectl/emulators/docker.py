"""pulumi-docker: what `docker:index/image:Image` reports, computed from its inputs.

The provider (pulumi-docker 5.x, provider/image.go) builds, optionally pushes, and
returns `imageName` and `baseImageName` (both the input image name), `context`,
`dockerfile` (relative to the context), `registryServer`, `platform`, and, only
after a push, `repoDigest` (repository@sha256:..., read back from the engine).
The id is the image name. Offline there is no engine and no registry: the digest
cannot be known, so it is left out and a note says so (never invented).
"""

from __future__ import annotations

import posixpath

from .base import Context, Emulated, ResourceCall, emulates


@emulates("docker:index/image:Image")
def image(call: ResourceCall, ctx: Context) -> Emulated:
    inputs = call.inputs
    name = inputs.get("imageName")
    build = inputs.get("build") or {}
    context = build.get("context") or "."
    dockerfile = build.get("dockerfile") or posixpath.join(context, "Dockerfile")
    registry = inputs.get("registry") or {}
    outputs = {
        **inputs,
        "imageName": name,
        "baseImageName": name,
        "context": context,
        "dockerfile": _relative(dockerfile, context),
        "registryServer": registry.get("server") or "",
    }
    if build.get("platform"):
        outputs["platform"] = build["platform"]
    if inputs.get("skipPush"):
        ctx.note(f"{call.type} {call.name}: skip_push, so the provider reports no repoDigest")
    else:
        ctx.note(
            f"{call.type} {call.name}: repoDigest is unknown offline (the provider reads it from the "
            "registry after the push); consumers fall back to imageName"
        )
    return Emulated(name, outputs)


def _relative(dockerfile: str, context: str) -> str:
    """The provider reports the Dockerfile relative to the context (filepath.Rel)."""
    if posixpath.isabs(dockerfile) != posixpath.isabs(context):
        return dockerfile
    return posixpath.relpath(dockerfile, context)
