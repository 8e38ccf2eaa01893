"""Reusable constrained field types for the settings models.

Each type states its allowed range in its error message, so that a bad value
reads as `field = value: allowed ...` without the user having to look it up.
The bounds are also published in the JSON schema (`minimum`/`maximum`), which
the generated config reference in docs/config-reference.md is built from.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr

__all__ = [
    "AbsolutePath",
    "DnsLabel",
    "IntRange",
    "Percent",
    "Port",
    "StrictBool",
    "StrictInt",
    "StrictStr",
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
