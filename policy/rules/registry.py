"""The rule model and its registry: `@rule(name, family, ...)` appends to REGISTERED as a module is read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from pulumi_policy import EnforcementLevel, Severity

from .access import kind_of
from .views import ResourceContext, StackView

PACK_NAME = "mindie"

STRINGS = {"type": "array", "items": {"type": "string"}}
"""JSON schema of a rule config property that lists names (components, containers, path prefixes)."""

ResourceCheck = Callable[[Any, ResourceContext], list[str]]
StackCheck = Callable[[StackView], list[tuple[str, Optional[str]]]]


@dataclass(frozen=True)
class Rule:
    name: str
    family: str
    description: str
    remediation: str
    check: Callable[..., Any]
    scope: str = "resource"  # "resource" | "stack"
    types: tuple[str, ...] = ()
    """Resource rules: Kubernetes kinds or full type tokens the rule looks at (empty: every resource)."""
    level: EnforcementLevel = EnforcementLevel.MANDATORY
    severity: Severity = Severity.HIGH
    config: Optional[dict[str, dict[str, Any]]] = None
    """JSON-schema properties of the rule's own config (in the policy config file)."""

    def applies_to(self, resource_type: str) -> bool:
        return not self.types or resource_type in self.types or kind_of(resource_type) in self.types

    def check_resource(self, props: Any, ctx: ResourceContext) -> list[str]:
        if not self.applies_to(ctx.type):
            return []
        return list(self.check(props, ctx))

    def check_stack(self, stack: StackView) -> list[tuple[str, Optional[str]]]:
        return list(self.check(stack))


FAMILIES = (
    "workload-security",
    "host-paths",
    "npu-rollout",
    "probes",
    "network",
    "rbac",
    "tls-secrets",
    "stack",
)
"""The rule families, in the pack's order (one module each)."""

REGISTERED: list[Rule] = []
"""Every rule, in the order the family modules were imported (the package sorts them by family)."""


def rule(name: str, family: str, description: str, remediation: str, **kw: Any) -> Callable:
    if family not in FAMILIES:
        raise ValueError(f"rule {name}: unknown family {family!r}")

    def register(fn: Callable) -> Callable:
        REGISTERED.append(Rule(name, family, description, remediation, fn, **kw))
        return fn

    return register


def by_name(name: str) -> Rule:
    for r in REGISTERED:
        if r.name == name:
            return r
    raise KeyError(name)
