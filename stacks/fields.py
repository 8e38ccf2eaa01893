"""Reusable constrained field types for the settings models.

Each type states its allowed range in its error message, so that a bad value
reads as `field = value: allowed ...` without the user having to look it up.
The bounds are also published in the JSON schema (`minimum`/`maximum`), which
the generated config reference in docs/config-reference.md is built from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Optional

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr

__all__ = [
    "AbsolutePath",
    "Cpu",
    "Digest",
    "DnsLabel",
    "IntRange",
    "Memory",
    "Pattern",
    "Percent",
    "Port",
    "Quantity",
    "StorageSize",
    "StrictBool",
    "StrictInt",
    "StrictStr",
    "cpu_millicores",
    "memory_bytes",
    "quantity_bytes",
]


def IntRange(lo: int, hi: int, unit: str = ""):  # noqa: N802 - reads as a type
    """An integer in [lo, hi], both ends inclusive (the seed's ranges are inclusive)."""
    suffix = f" {unit}" if unit else ""

    def check(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"out of range: allowed {lo} to {hi}{suffix} (inclusive)")
        return value

    return Annotated[
        StrictInt,
        AfterValidator(check),
        Field(json_schema_extra={"minimum": lo, "maximum": hi}),
    ]


Port = IntRange(1024, 65535)

_PERCENT = re.compile(r"^(0|[1-9][0-9]*)%$")


def _check_percent(value: str) -> str:
    match = _PERCENT.match(value)
    if not match or int(match.group(1)) > 100:
        raise ValueError('must have the form "{int}%" with the number from 0 to 100, e.g. "25%"')
    return value


Percent = Annotated[
    StrictStr,
    AfterValidator(_check_percent),
    Field(json_schema_extra={"pattern": r"^(100|[1-9]?[0-9])%$"}),
]


def percent_value(value: str) -> int:
    """'25%' -> 25 (the value has passed `Percent` validation)."""
    return int(value.rstrip("%"))


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def DnsLabel(max_length: int = 63):  # noqa: N802 - reads as a type
    """A Kubernetes DNS-1123 label (RFC 1123), at most `max_length` characters."""

    def check(value: str) -> str:
        if not 1 <= len(value) <= max_length:
            raise ValueError(f"must be 1 to {max_length} characters long (got {len(value)})")
        if not _DNS_LABEL.match(value):
            raise ValueError(
                "must be a DNS-1123 label: lower-case letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        return value

    return Annotated[StrictStr, AfterValidator(check), Field(json_schema_extra={"maxLength": max_length})]


def _check_absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path (start with '/')")
    if "/../" in value + "/" or "//" in value:
        raise ValueError("must be a normalised absolute path (no '..' or '//')")
    return value


AbsolutePath = Annotated[StrictStr, AfterValidator(_check_absolute)]


def Pattern(regex: str, message: str, *, also: Optional[Callable[[str], bool]] = None):  # noqa: N802
    """A string that `re.match`es `regex` (and, when given, for which `also` is true).

    Anything else is refused with `message`, which names the allowed form, e.g.
    'must be an image digest "sha256:" followed by 64 lower-case hex digits'.
    """
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.match(value) or (also is not None and not also(value)):
            raise ValueError(message)
        return value

    return Annotated[StrictStr, AfterValidator(check)]


# --- Kubernetes quantities ----------------------------------------------------------------------

_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
"""Kubernetes quantity suffixes (decimal and binary SI) -> factor."""

Quantity = Pattern(
    r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$",
    'must be a Kubernetes quantity such as "16Gi" or "512Mi"',
)
"""Any Kubernetes byte quantity, zero included (e.g. an emptyDir sizeLimit)."""


def quantity_bytes(value: str) -> float:
    """'16Gi' -> 17179869184 (a validated Quantity)."""
    number = value.rstrip("kMGTPEi")
    return float(number) * _UNITS[value[len(number) :]]


StorageSize = Pattern(
    r"^[1-9][0-9]*(Mi|Gi|Ti)$",
    'must be a storage size like "1Gi" (a positive integer with Mi, Gi or Ti)',
)
"""A PVC size: a positive integer of Mi, Gi or Ti."""

_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")


def memory_bytes(value: str) -> Decimal:
    """'512Mi' -> bytes (the value has passed `Memory` validation)."""
    number, suffix = _MEMORY.match(value).groups()  # type: ignore[union-attr]
    return Decimal(number) * _UNITS[suffix or ""]


def cpu_millicores(value: str) -> Decimal:
    """'4' or '4000m' -> millicores (the value has passed `Cpu` validation)."""
    number, milli = _CPU.match(value).groups()  # type: ignore[union-attr]
    return Decimal(number) if milli else Decimal(number) * 1000


Memory = Pattern(
    _MEMORY.pattern,
    'must be a positive Kubernetes memory quantity, e.g. "512Mi" or "1Gi"',
    also=lambda value: memory_bytes(value) > 0,
)
"""A positive memory quantity (up to T/Ti), exact as a Decimal."""

Cpu = Pattern(
    _CPU.pattern,
    'must be a positive Kubernetes CPU quantity, e.g. "4", "4000m" or "0.5"',
    also=lambda value: cpu_millicores(value) > 0,
)
"""A positive CPU quantity in cores or millicores."""

Digest = Pattern(
    r"^sha256:[0-9a-f]{64}$",
    'must be an image digest "sha256:" followed by 64 lower-case hex digits',
)
"""An OCI image digest."""
