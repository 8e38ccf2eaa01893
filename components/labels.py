"""Label helpers shared by every component.

Standard `app.kubernetes.io/*` labels go on every object; selectors use only the
two labels that never change over an object's life (name and instance), so a
version bump or a new label never orphans pods (a Deployment's selector is
immutable).
"""

from __future__ import annotations

from domain.kubernetes import COMPONENT_LABEL

PART_OF = "mindie"
MANAGED_BY = "pulumi"


def selector_labels(name: str, instance: str) -> dict[str, str]:
    """Minimal, stable selector: app.kubernetes.io/name + instance."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}


def standard_labels(
    name: str, instance: str, component: str, version: str | None = None
) -> dict[str, str]:
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
