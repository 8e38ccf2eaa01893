"""Kubernetes objects: the provider sends the manifest as is, so outputs = inputs.

The only value the provider adds that a program can read back is an
auto-generated `metadata.name` (a random suffix). The program always names its
objects, so an unnamed object is reported rather than given a made-up name.
"""

from __future__ import annotations

from . import Context, Emulated, ResourceCall, emulates


@emulates("kubernetes:*")
def kubernetes_object(call: ResourceCall, ctx: Context) -> Emulated:
    metadata = call.inputs.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        ctx.note(f"{call.type} {call.name}: no metadata.name; the provider would auto-name it")
        return Emulated(None, dict(call.inputs))
    namespace = metadata.get("namespace")
    return Emulated(f"{namespace}/{name}" if namespace else name, dict(call.inputs))


@emulates("pulumi:providers:*")
def provider(call: ResourceCall, ctx: Context) -> Emulated:
    return Emulated(f"{call.name}-provider-id", dict(call.inputs))
