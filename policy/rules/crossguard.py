"""CrossGuard wrapping: each Rule as a pulumi_policy policy, the engine's arguments as the rules' views."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pulumi_policy import (
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .kinds import TLS_CERT_REQUEST, TLS_LOCALLY_SIGNED, TLS_PRIVATE_KEY, TLS_SELF_SIGNED
from .registry import Rule
from .views import ResourceContext, StackResource, StackView

# Provider-schema secrets: inputs the SDKs always mark secret (additional_secret_outputs),
# so the engine encrypts them even when a policy sees them as plain values.
SCHEMA_SECRETS: dict[str, frozenset[str]] = {
    "kubernetes:core/v1:Secret": frozenset({"data", "stringData"}),
    TLS_PRIVATE_KEY: frozenset({"privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"}),
    TLS_CERT_REQUEST: frozenset({"privateKeyPem", "privateKeyPemWo"}),
    TLS_SELF_SIGNED: frozenset({"privateKeyPem", "privateKeyPemWo"}),
    TLS_LOCALLY_SIGNED: frozenset({"caPrivateKeyPem", "caPrivateKeyPemWo"}),
}


def secret_roots(resource_type: str, additional_secret_outputs: Iterable[str]) -> frozenset[str]:
    roots = {re.split(r"[.\[]", str(p))[0] for p in additional_secret_outputs or []}
    return frozenset(roots | SCHEMA_SECRETS.get(resource_type, frozenset()))


def resource_context(args: ResourceValidationArgs) -> ResourceContext:
    secret = getattr(args.opts, "additional_secret_outputs", None) or []
    return ResourceContext(
        type=args.resource_type,
        name=args.name,
        urn=args.urn,
        config=args.get_config() or {},
        secret_paths=secret_roots(args.resource_type, secret),
    )


def stack_view(args: StackValidationArgs) -> StackView:
    resources = []
    for r in args.resources:
        secret = getattr(r.opts, "additional_secret_outputs", None) or []
        resources.append(
            StackResource(
                type=r.resource_type,
                name=r.name,
                urn=r.urn,
                props=r.props,
                parent=r.parent.urn if r.parent is not None else "",
                dependencies=[d.urn for d in r.dependencies],
                property_dependencies={k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
                secret_paths=secret_roots(r.resource_type, secret),
            )
        )
    return StackView(resources, args.get_config() or {})


def to_policy(r: Rule) -> Policy:
    """The rule as a pulumi_policy ResourceValidationPolicy / StackValidationPolicy."""
    schema = PolicyConfigSchema(properties=r.config) if r.config else None
    common = dict(
        enforcement_level=r.level,
        config_schema=schema,
        severity=r.severity,
        remediation_steps=r.remediation,
        tags=[r.family],
    )
    if r.scope == "resource":

        def validate_resource(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if not r.applies_to(args.resource_type):
                return
            for message in r.check(args.props, resource_context(args)):
                report_violation(message, None)

        return ResourceValidationPolicy(r.name, r.description, validate_resource, **common)

    def validate_stack(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in r.check(stack_view(args)):
            report_violation(message, urn)

    return StackValidationPolicy(r.name, r.description, validate_stack, **common)
