"""Validate manifests against the official Kubernetes OpenAPI schemas (kubernetes-validate, strict).

Strict mode rejects unknown fields, the mistake a typed Pulumi input cannot
catch when a dict is passed where an Args class was expected.
"""

from __future__ import annotations

import functools
import json
from typing import Any

KUBERNETES_VERSION = "1.30"
"""Oldest Kubernetes minor the manifests must be valid for (Ascend device plugin / volcano era)."""


def schema_errors(manifest: dict[str, Any], version: str = KUBERNETES_VERSION) -> list[str]:
    """[] when valid; otherwise one line per problem (first line of the validator's message)."""
    return list(_errors_of(json.dumps(manifest, sort_keys=True), version))


@functools.lru_cache(maxsize=4096)
def _errors_of(manifest_json: str, version: str) -> tuple[str, ...]:
    """Once per distinct manifest and process: a promotion gates each stack twice and most objects of
    a stack are unchanged between the runs (the answer depends on the manifest's text alone)."""
    import kubernetes_validate

    manifest = json.loads(manifest_json)
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        path = ".".join(str(p) for p in err.path) or "(root)"
        return (f"{path}: {str(err.message).splitlines()[0]}",)
    except kubernetes_validate.SchemaNotFoundError as err:
        return (f"no schema for {manifest.get('apiVersion')}/{manifest.get('kind')}: {err}",)
    return ()
