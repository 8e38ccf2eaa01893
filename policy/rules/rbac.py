"""RBAC: no wildcards or escalation, ms-role exactly the seed's, bound to the kubeclient certificate's CN."""

from __future__ import annotations

from typing import Any, Optional

from pulumi_policy import Severity

from domain.kubernetes import COMPONENT_LABEL, MS_SERVER
from domain.rbac import MS_ROLE_NAME, ms_role_verbs

from .access import get, kind_of, labels, object_name, seq
from .kinds import BINDING_KINDS, ROLE_KINDS, TLS_CERT_REQUEST
from .registry import rule
from .views import ResourceContext, StackResource, StackView

MS_ROLE_RULES = ms_role_verbs()
"""(apiGroup, resource) -> verbs of the seed's ms-role (ms-role.yaml and table 1)."""
ESCALATION_VERBS = frozenset({"bind", "escalate", "impersonate"})


def role_rules(props: Any) -> list[tuple[int, Any]]:
    """(index, rule) of a Role's or ClusterRole's rules."""
    return list(enumerate(seq(get(props, "rules"))))


def is_ms_role(props: Any) -> bool:
    return object_name(props) == MS_ROLE_NAME or get(labels(props), COMPONENT_LABEL) == MS_SERVER


@rule(
    "rbac-no-wildcards",
    "rbac",
    "No Role or ClusterRole rule uses * in verbs, resources, apiGroups or nonResourceURLs.",
    "List the verbs and resources the component needs (the seed's ms-role table).",
    types=ROLE_KINDS,
    severity=Severity.CRITICAL,
)
def rbac_no_wildcards(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"{kind_of(ctx.type) or 'role'} {object_name(props)} rules[{i}].{key} contains '*'"
        for i, r in role_rules(props)
        for key in ("verbs", "resources", "apiGroups", "nonResourceURLs")
        if any("*" in str(v) for v in seq(get(r, key)))
    ]


@rule(
    "rbac-no-escalation",
    "rbac",
    "No Role or ClusterRole grants bind, escalate or impersonate.",
    "Remove the bind / escalate / impersonate verbs.",
    types=ROLE_KINDS,
    severity=Severity.CRITICAL,
)
def rbac_no_escalation(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"{object_name(props)} rules[{i}] grants {sorted(bad)}"
        for i, r in role_rules(props)
        if (bad := {str(v) for v in seq(get(r, "verbs"))} & ESCALATION_VERBS)
    ]


@rule(
    "rbac-ms-role-verbs",
    "rbac",
    "The ms-server's role (ms-role) grants nothing beyond the seed's table: deployments create/delete/get/"
    "patch; pods get/list/patch; configmaps get/create/delete; services get/create/delete.",
    "Keep ms-role to exactly the seed's rules (components/rbac.py).",
    types=ROLE_KINDS,
)
def rbac_ms_role_verbs(props: Any, ctx: ResourceContext) -> list[str]:
    if not is_ms_role(props):
        return []
    problems = []
    for i, r in role_rules(props):
        if seq(get(r, "nonResourceURLs")):
            problems.append(f"rules[{i}]: nonResourceURLs are not in the seed's table")
        verbs = {str(v) for v in seq(get(r, "verbs"))}
        for group in [str(g) for g in seq(get(r, "apiGroups"))] or [""]:
            for res in [str(x) for x in seq(get(r, "resources"))]:
                allowed = MS_ROLE_RULES.get((group, res))
                if allowed is None:
                    problems.append(f"rules[{i}]: {group or 'core'}/{res} is not in the seed's table")
                elif verbs - allowed:
                    problems.append(
                        f"rules[{i}]: {group or 'core'}/{res} verbs {sorted(verbs - allowed)} "
                        f"beyond {sorted(allowed)}"
                    )
    return problems


def kubeclient_cn(stack: StackView, binding: StackResource) -> Optional[str]:
    """The CN of the kubeclient certificate: its CSR's subject, else a stack output."""
    candidates = []
    for urn in binding.property_dependencies.get("subjects", []) + binding.dependencies:
        r = stack.by_urn(urn)
        if r is not None and r.type == TLS_CERT_REQUEST:
            candidates.append(r)
    candidates += [r for r in stack.of_type(TLS_CERT_REQUEST) if "kubeclient" in r.name]
    for r in candidates:
        cn = get(r.props, "subject", "commonName")
        if cn:
            return str(cn)
    for key in ("kubeclientCn", "kubeclientCN", "kubeclient_cn"):
        if get(stack.outputs, key):
            return str(get(stack.outputs, key))
    return None


@rule(
    "rbac-binding-subject",
    "rbac",
    "The binding of ms-role names exactly one subject: the User whose name is the kubeclient "
    "certificate's CN.",
    "Bind ms-role to kind User, name = the CA component's kubeclient_cn output (not a repeated string).",
    scope="stack",
)
def rbac_binding_subject(stack: StackView) -> list[tuple[str, Optional[str]]]:
    role_names = {object_name(r.props) for r in stack.of_kind(*ROLE_KINDS) if is_ms_role(r.props)}
    problems: list[tuple[str, Optional[str]]] = []
    for b in stack.of_kind(*BINDING_KINDS):
        if str(get(b.props, "roleRef", "name")) not in role_names and not is_ms_role(b.props):
            continue
        cn = kubeclient_cn(stack, b)
        subjects = seq(get(b.props, "subjects"))
        shown = [f"{get(s, 'kind')}:{get(s, 'name')}" for s in subjects]
        if cn is None:
            continue  # issued outside the stack (the seed's manual way): nothing to compare
        if len(subjects) != 1 or get(subjects[0], "kind") != "User" or get(subjects[0], "name") != cn:
            problems.append(
                (
                    f"{object_name(b.props)}: subjects {shown}, expected exactly User:{cn} "
                    "(the kubeclient certificate's CN)",
                    b.urn,
                )
            )
    return problems
