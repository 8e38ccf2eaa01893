"""Label helpers shared by every component.

Standard `app.kubernetes.io/*` labels go on every object, each with one meaning:

- `name`: the application the object is part of (a server group, ms-server, a Motor program; `mindie`
  for objects of the whole stack);
- `instance`: the installation it belongs to: a workload's objects carry its Deployment's name, objects
  of the whole stack (CA Secrets, NetworkPolicies, the Namespace, Motor's shared files) the stack's,
  which is its namespace (tests/test_labels.py);
- `component`: its role in MindIE's architecture (server, coordinator, controller, ms-server, ca, ...);
- `part-of`: always `mindie`; `managed-by`: always `pulumi`; `version`: the image tag it runs.

Selectors use only name and instance, the two that never change over an object's life, so a version
bump or a new label never orphans pods (a Deployment's selector is immutable).
"""

from __future__ import annotations

from domain.kubernetes import COMPONENT_LABEL

PART_OF = "mindie"
MANAGED_BY = "pulumi"


def selector_labels(name: str, instance: str) -> dict[str, str]:
    """Minimal, stable selector: app.kubernetes.io/name + instance."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}


def standard_labels(name: str, instance: str, component: str, version: str | None = None) -> dict[str, str]:
    """The recommended Kubernetes labels for an object of this product."""
    labels = {
        **selector_labels(name, instance),
        COMPONENT_LABEL: component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if version:
        labels["app.kubernetes.io/version"] = sanitize_label_value(version)
    return labels


def sanitize_label_value(value: str) -> str:
    """A label value is at most 63 chars of [A-Za-z0-9_.-], alphanumeric at both ends."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in value)[:63]
    return cleaned.strip("-_.")
