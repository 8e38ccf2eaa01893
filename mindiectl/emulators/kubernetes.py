"""Kubernetes objects: the provider sends the manifest as is, so outputs = inputs.

The only value the provider adds that a program can read back is an
auto-generated `metadata.name` (a random suffix). The program always names its
objects, so an unnamed object is reported rather than given a made-up name.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from .base import Context, Emulated, ResourceCall, emulates

# --- what the provider normalizes ----------------------------------------------------------------
# pulumi-kubernetes' Check normalizes a known kind by converting it to its typed Go object and back
# (provider/v4 pkg/provider/provider.go normalizeInputs -> pkg/clients/unstructured.go Normalize),
# and that is what it renders and returns: resource.Quantity values come back in their canonical
# form ("8000m" -> "8", "1024Mi" -> "1Gi"). Found by the engine tier's differential test.

_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)")


def canonical_quantity(value: Any) -> Any:
    """A Kubernetes quantity as k8s.io/apimachinery resource.Quantity.String() writes it.

    BinarySI (Ki, Mi, ...) keeps a binary suffix when the value is a whole number of at least 1024
    (the largest suffix that keeps it whole), else it is written DecimalSI; DecimalSI uses the
    largest power of 1000 that keeps the number whole. Anything else is returned unchanged."""
    text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        return value
    match = _QUANTITY.fullmatch(text)
    if not match:
        return value
    number, suffix = Fraction(match.group(1)), match.group(2)
    if suffix in _BINARY:
        amount = number * 1024 ** _BINARY[suffix]
    else:
        amount = number * Fraction(10) ** _DECIMAL[suffix]
    if amount == 0:
        return "0"
    if suffix in _BINARY and abs(amount) >= 1024 and amount.denominator == 1:
        whole, power = int(amount), 0
        while power < 6 and whole % 1024 == 0:
            whole, power = whole // 1024, power + 1
        return f"{whole}{['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][power]}"
    exponent = -9  # nano is the finest unit a Quantity keeps (it rounds up beyond)
    scaled = amount * Fraction(10) ** 9
    # Rounded up to a whole number of nano units, away from zero like Quantity.
    whole = -(-abs(scaled.numerator) // scaled.denominator) * (1 if scaled > 0 else -1)
    while exponent < 18 and whole % 1000 == 0:
        whole, exponent = whole // 1000, exponent + 3
    return f"{whole}{ {v: k for k, v in _DECIMAL.items()}[exponent] }"


def normalize(obj: Any, parent: str = "") -> Any:
    """The object as the provider renders it: quantities canonical (resources.limits/requests,
    emptyDir.sizeLimit, PVC storage requests)."""
    if isinstance(obj, dict):
        if parent in ("limits", "requests"):
            return {k: canonical_quantity(v) for k, v in obj.items()}
        return {k: (canonical_quantity(v) if k == "sizeLimit" else normalize(v, k)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [normalize(v, parent) for v in obj]
    return obj


@emulates("kubernetes:*")
def kubernetes_object(call: ResourceCall, ctx: Context) -> Emulated:
    metadata = call.inputs.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        ctx.note(f"{call.type} {call.name}: no metadata.name; the provider would auto-name it")
        return Emulated(None, dict(call.inputs))
    namespace = metadata.get("namespace")
    spec = call.inputs.get("spec") or {}
    service = call.inputs.get("kind") == "Service"
    if service and not spec.get("clusterIP") and spec.get("type") != "ExternalName":
        # The API server allocates it; until then it is unknown, here as under renderYamlToDirectory.
        ctx.note(
            f"Service {name}: spec.clusterIP is allocated by the cluster, so outputs that read it "
            "(e.g. ms-server's msctl dstIP) are null offline; set it in config to pin it"
        )
    return Emulated(f"{namespace}/{name}" if namespace else name, normalize(dict(call.inputs)))


@emulates("pulumi:providers:*")
def provider(call: ResourceCall, ctx: Context) -> Emulated:
    return Emulated(f"{call.name}-provider-id", dict(call.inputs))
