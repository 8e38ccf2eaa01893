"""Validate manifests against the official Kubernetes OpenAPI schemas (kubernetes-validate, strict).

Strict mode rejects unknown fields, the mistake a typed Pulumi input cannot
catch when a dict is passed where an Args class was expected.
"""

from __future__ import annotations

from typing import Any

KUBERNETES_VERSION = "1.30"
"""Oldest Kubernetes minor the manifests must be valid for (Ascend device plugin / volcano era)."""


def schema_errors(manifest: dict[str, Any], version: str = KUBERNETES_VERSION) -> list[str]:
    """[] when valid; otherwise one line per problem (first line of the validator's message)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        path = ".".join(str(p) for p in err.path) or "(root)"
        return [f"{path}: {str(err.message).splitlines()[0]}"]
    except kubernetes_validate.SchemaNotFoundError as err:
        return [f"no schema for {manifest.get('apiVersion')}/{manifest.get('kind')}: {err}"]
    return []
