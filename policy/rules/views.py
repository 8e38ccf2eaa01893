"""What a check sees: the context of one resource, and the whole stack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from .access import component, get, kind_of, seq
from .kinds import STACK_TYPE, WORKLOAD_KINDS


@dataclass(frozen=True)
class ResourceContext:
    """What a resource check may know besides the props."""

    type: str
    name: str = ""
    urn: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    secret_paths: frozenset[str] = frozenset()
    """Top-level property names Pulumi keeps secret (additionalSecretOutputs + schema secrets)."""

    def strings(self, *path: str) -> list[str]:
        """A list of names from the policy's config (STRINGS), [] when not set."""
        return [str(x) for x in seq(get(self.config, *path))]


@dataclass
class StackResource:
    """One resource as a stack rule sees it (a thin view over pulumi_policy.PolicyResource)."""

    type: str
    name: str
    urn: str
    props: Any
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    secret_paths: frozenset[str] = frozenset()

    @property
    def kind(self) -> str:
        return kind_of(self.type)


@dataclass
class StackView:
    resources: list[StackResource]
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stack(self) -> Optional[StackResource]:
        return next((r for r in self.resources if r.type == STACK_TYPE), None)

    @property
    def outputs(self) -> Any:
        return self.stack.props if self.stack else {}

    @property
    def stack_name(self) -> str:
        urn = self.stack.urn if self.stack else (self.resources[0].urn if self.resources else "")
        parts = urn.split(":")
        return parts[2] if len(parts) > 2 else ""

    @property
    def environment(self) -> str:
        return str(get(self.outputs, "environment", default=""))

    @property
    def entry(self) -> str:
        return str(get(self.outputs, "entry", default=""))

    def of_kind(self, *kinds: str) -> list[StackResource]:
        return [r for r in self.resources if r.kind in kinds]

    def of_type(self, type_token: str) -> list[StackResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self, urn: str) -> Optional[StackResource]:
        return next((r for r in self.resources if r.urn == urn), None)

    def workloads(self, *components: str) -> list[StackResource]:
        return [
            r for r in self.of_kind(*WORKLOAD_KINDS) if not components or component(r.props) in components
        ]
