"""What a run registered as text: manifests, resource records, stack outputs, the tree.

Pure functions of the run's result, sorted, so two previews of an unchanged stack are
identical byte for byte (mindiectl/artefacts.py writes them).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from domain.numbers import integral

from .emulators.kubernetes import normalize
from .runtime import Resource, RunResult
from .secret_values import redact

STACK_TYPE = "pulumi:pulumi:Stack"


def is_manifest(resource: Resource) -> bool:
    return resource.custom and resource.type.startswith("kubernetes:")


def manifest_filename(manifest: dict[str, Any]) -> str:
    meta = manifest.get("metadata") or {}
    parts = [manifest.get("kind", "Object").lower(), meta.get("namespace"), meta.get("name", "unnamed")]
    return ".".join(p for p in parts if p) + ".yaml"


def manifests(result: RunResult) -> dict[str, dict[str, Any]]:
    """filename -> manifest for every Kubernetes object the run declared.

    Secret values (a Secret's stringData) read "[secret]", as in resources.json: the
    real material of the CA chain is written only under tls/ (mode 0600 for keys)."""
    found = {}
    for resource in result.resources:
        if is_manifest(resource):
            # As the provider renders it (normalized: canonical quantities).
            manifest = normalize(integral(redact(resource.inputs, resource.secret_inputs, keep_shape=True)))
            found[manifest_filename(manifest)] = manifest
    return dict(sorted(found.items()))


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter when PyYAML has it (several times faster on ~80 manifests)."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line strings (config.json, run.sh in ConfigMaps) as literal blocks, so a reviewer reads
    # the generated files as files; YAML falls back to quoting where a block cannot hold the text.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)
_DUMPER = _Dumper


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=True, default_flow_style=False, allow_unicode=True)


def resource_record(resource: Resource) -> dict[str, Any]:
    return {
        "urn": resource.urn,
        "type": resource.type,
        "name": resource.name,
        "id": resource.id,
        "custom": resource.custom,
        "parent": resource.parent,
        "provider": resource.provider,
        "dependencies": resource.dependencies,
        "propertyDependencies": resource.property_dependencies,
        "protect": resource.protect,
        "retainOnDelete": resource.retain_on_delete,
        "ignoreChanges": resource.ignore_changes,
        "secretInputs": sorted(resource.secret_inputs),
        "secretOutputs": sorted(resource.secret_outputs),
        "inputs": integral(redact(resource.inputs, resource.secret_inputs)),
        "outputs": integral(redact(resource.outputs, _secret_output_paths(resource))),
        **({"read": True} if resource.read else {}),
    }


def _secret_output_paths(resource: Resource) -> list[str]:
    return sorted(set(resource.secret_outputs) | set(resource.secret_inputs))


def stack_outputs(result: RunResult) -> dict[str, Any]:
    return integral(redact(result.outputs, result.secret_outputs))


def tree(result: RunResult) -> str:
    """The resource tree the way `pulumi preview` prints it."""
    children: dict[str, list[Resource]] = {}
    for r in result.resources:
        children.setdefault(r.parent, []).append(r)
    stack_name = f"{result.project}-{result.stack}"
    stack_urn = next((p for p in sorted(children) if p.endswith(f"::{stack_name}")), "")
    rows: list[tuple[str, str, str]] = [(STACK_TYPE, f"{result.project}-{result.stack}", "")]
    reads = {(r.type, r.name) for r in result.resources if r.read}

    def walk(parent: str, prefix: str) -> None:
        kids = sorted(children.get(parent, []), key=lambda r: (r.custom, r.type, r.name))
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            rows.append((r.type, r.name, prefix + ("└─ " if last else "├─ ")))
            walk(r.urn, prefix + ("   " if last else "│  "))

    walk(stack_urn, "")
    width_type = max(len(p) + len(t) for t, _, p in rows) + 2
    width_name = max(len(n) for _, n, _ in rows) + 2
    lines = [f"     {'Type':<{width_type}}{'Name':<{width_name}}Plan"]
    for type_, name, prefix in rows:
        mark, plan = (">", "read") if (type_, name) in reads else ("+", "create")
        lines.append(f" {mark}   {prefix + type_:<{width_type}}{name:<{width_name}}{plan}")
    return "\n".join(lines)


def outputs_text(result: RunResult) -> str:
    outputs = stack_outputs(result)
    if not outputs:
        return "Outputs: (none)"
    width = max(len(k) for k in outputs) + 1
    lines = ["Outputs:"]
    for key, value in sorted(outputs.items()):
        text = json.dumps(value, sort_keys=True)
        lines.append(f"    {key:<{width}}: {text if len(text) < 120 else text[:117] + '...'}")
    return "\n".join(lines)
