"""Reusable constrained field types for the settings models, and their base `StrictModel`.

Each type states its allowed range in its error message, so that a bad value
reads as `field = value: allowed ...` without the user having to look it up.
The bounds are also published in the JSON schema (`minimum`/`maximum`), which
the generated config reference in docs/config-reference.md is built from.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from domain.host_paths import forbidden_host_path, shared_top_level
from domain.images import DIGEST

__all__ = [
    "AbsolutePath",
    "Cidr",
    "DnsSubdomain",
    "LabelKey",
    "LabelValue",
    "LinuxName",
    "Namespace",
    "Cpu",
    "Digest",
    "DnsLabel",
    "HostPath",
    "IntRange",
    "Memory",
    "Pattern",
    "Percent",
    "Port",
    "Quantity",
    "SourceCidr",
    "StorageSize",
    "StrictBool",
    "StrictInt",
    "StrictModel",
    "StrictStr",
    "cpu_millicores",
    "memory_bytes",
    "quantity_bytes",
]


class StrictModel(BaseModel):
    """Base of every settings model: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=False)


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
    match = _PERCENT.fullmatch(value)
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
        if not _DNS_LABEL.fullmatch(value):
            raise ValueError(
                "must be a DNS-1123 label: lower-case letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        return value

    return Annotated[StrictStr, AfterValidator(check), Field(json_schema_extra={"maxLength": max_length})]


MAX_PATH = 4096
"""PATH_MAX on Linux."""
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9_@%+=,.-]+")
"""Characters a path may use: letters, digits and `_@%+=,.-` (shlex.quote's safe set without ':');
no space, quote, `$`, backtick, `;`, `|`, `&`, `*`, newline or other shell metacharacter."""


def _check_absolute(value: str) -> str:
    # Every such path reaches a shell script (run.sh: WORK_DIR, set_env.sh), a mount path or a
    # command line: validated strictly here AND quoted where it is used (shlex.quote).
    if len(value) > MAX_PATH:
        raise ValueError(f"must be at most {MAX_PATH} characters (got {len(value)})")
    if not value.startswith("/"):
        raise ValueError("must be an absolute path (start with '/')")
    segments = value[1:].split("/")
    if value != "/" and (value.endswith("/") or "" in segments or {".", ".."} & set(segments)):
        raise ValueError("must be a normalised absolute path (no '..', '.', '//' or trailing '/')")
    if value != "/" and not all(_PATH_SEGMENT.fullmatch(seg) for seg in segments):
        raise ValueError(
            "must use only letters, digits and '_@%+=,.-' between the '/' (no spaces, "
            "quotes, newlines or shell metacharacters such as ;|&$`)"
        )
    return value


AbsolutePath = Annotated[StrictStr, AfterValidator(_check_absolute)]


def HostPath(example: str):  # noqa: N802 - reads as a type
    """A node directory a pod mounts (hostPath): absolute, dedicated, never one domain.host_paths forbids.

    `example` is the dedicated directory the message suggests instead."""

    def check(value: str) -> str:
        reason = forbidden_host_path(value)  # "is under /etc", "is a socket", ...
        if reason is not None:
            raise ValueError(
                f"must not be {reason.removeprefix('is ')} (the seed forbids public and system directories: "
                f"mounting one risks a container escape); use a dedicated directory such as {example}"
            )
        if shared_top_level(value):
            raise ValueError(f"must be a dedicated directory (e.g. {example}), not a shared top-level one")
        return value

    return Annotated[AbsolutePath, AfterValidator(check)]


def Pattern(regex: str, message: str, *, also: Optional[Callable[[str], bool]] = None):  # noqa: N802
    """A string that `re.fullmatch`es `regex` (and, when given, for which `also` is true).

    Full match: a `$` in `regex` would also accept a trailing newline with re.match.

    Anything else is refused with `message`, which names the allowed form, e.g.
    'must be an image digest "sha256:" followed by 64 lower-case hex digits'.
    """
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value) or (also is not None and not also(value)):
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
    number, suffix = _MEMORY.fullmatch(value).groups()  # type: ignore[union-attr]
    return Decimal(number) * _UNITS[suffix or ""]


def cpu_millicores(value: str) -> Decimal:
    """'4' or '4000m' -> millicores (the value has passed `Cpu` validation)."""
    number, milli = _CPU.fullmatch(value).groups()  # type: ignore[union-attr]
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
    DIGEST.pattern,
    'must be an image digest "sha256:" followed by 64 lower-case hex digits',
)
"""An OCI image digest."""


# --- networks -----------------------------------------------------------------------------------


def _network(value: str, example: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(
            f'must be an IPv4 or IPv6 network in CIDR form with no host bits set, e.g. "{example}"'
        ) from None


def _check_cidr(value: str) -> str:
    _network(value, "10.30.0.0/16")
    return value


Cidr = Annotated[StrictStr, AfterValidator(_check_cidr)]
"""A network in CIDR form (a NetworkPolicy ipBlock)."""


def _check_source_cidr(value: str) -> str:
    if _network(value, "10.30.0.11/32").prefixlen == 0:
        raise ValueError("must not admit every address (the ms-server API can create Deployments)")
    return value


SourceCidr = Annotated[StrictStr, AfterValidator(_check_source_cidr)]
"""A source network a NetworkPolicy admits to a sensitive port: never every address (0.0.0.0/0)."""


# --- Kubernetes names (apimachinery pkg/util/validation/validation.go) --------------------------

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def _check_subdomain(value: str) -> str:
    # IsDNS1123Subdomain: at most 253 characters of lower-case RFC 1123 labels joined by '.'.
    if not 1 <= len(value) <= 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        raise ValueError(
            "must be a DNS-1123 subdomain: at most 253 lower-case letters, digits, '-' and "
            "'.', starting and ending with a letter or digit"
        )
    return value


DnsSubdomain = Annotated[StrictStr, AfterValidator(_check_subdomain)]
"""An object name such as a StorageClass or a Secret (IsDNS1123Subdomain)."""


def _check_label_key(value: str) -> str:
    # IsQualifiedName: [prefix/]name, name <= 63 of [A-Za-z0-9-_.] starting and ending alphanumeric,
    # prefix a DNS-1123 subdomain.
    prefix, slash, name = value.rpartition("/")
    if (slash and not (prefix and len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix))) or not (
        1 <= len(name) <= 63 and _QUALIFIED_NAME.fullmatch(name)
    ):
        raise ValueError(
            "must be a Kubernetes label key: an optional DNS-subdomain prefix and '/', then "
            "1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    return value


LabelKey = Annotated[StrictStr, AfterValidator(_check_label_key)]


def _check_label_value(value: str) -> str:
    # IsValidLabelValue: empty, or <= 63 characters like a qualified name.
    if value and not (len(value) <= 63 and _QUALIFIED_NAME.fullmatch(value)):
        raise ValueError(
            "must be a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit (or empty)"
        )
    return value


LabelValue = Annotated[StrictStr, AfterValidator(_check_label_value)]


def _not_root(value: str) -> str:
    if value == "root":
        raise ValueError("must not be root: the ms-server runs as a dedicated user")
    return value


LinuxName = Annotated[
    Pattern(
        r"^[a-z_][a-z0-9_-]{0,31}$",
        "must be a portable Linux user/group name: 1-32 characters, lower-case letters, digits, "
        "'_' or '-', not starting with a digit or '-'",
    ),
    AfterValidator(_not_root),
]
"""A user or group name an image creates (useradd's portable names), never root."""

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""Namespaces the cluster owns: this program declares, labels (Pod Security) and deletes its
namespace, which must never be one of these."""


def _check_namespace(value: str) -> str:
    if value in SYSTEM_NAMESPACES or value.startswith("kube-"):
        raise ValueError(
            f"must not be a system namespace ({', '.join(SYSTEM_NAMESPACES)}, kube-*): "
            "the program declares, labels and on `pulumi destroy` deletes its namespace"
        )
    return value


def Namespace() -> object:  # noqa: N802 - reads as a type
    """A DNS-1123 label that is not a system namespace."""
    return Annotated[DnsLabel(63), AfterValidator(_check_namespace)]
