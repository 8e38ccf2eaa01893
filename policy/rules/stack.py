"""Stack consistency: one MindIE service per namespace, one environment throughout."""

from __future__ import annotations

import re
from typing import Optional

from domain.kubernetes import ENVIRONMENT_LABEL, ENVIRONMENTS

from .access import component, get, labels, namespace_of, object_name
from .registry import rule
from .views import StackResource, StackView


@rule(
    "one-service-per-namespace",
    "stack",
    "One MindIE service per namespace (the Deployer supports only one): at most one ms-server, one "
    "coordinator, one controller and one NodePort entry per namespace.",
    "Deploy a second service into its own namespace (its own stack).",
    scope="stack",
)
def one_service_per_namespace(stack: StackView) -> list[tuple[str, Optional[str]]]:
    problems: list[tuple[str, Optional[str]]] = []
    groups: dict[tuple[str, str], list[StackResource]] = {}
    for w in stack.workloads("ms-server", "coordinator", "controller"):
        groups.setdefault((namespace_of(w.props), component(w.props)), []).append(w)
    for s in stack.of_kind("Service"):
        if get(s.props, "spec", "type") == "NodePort":
            groups.setdefault((namespace_of(s.props), "NodePort entry"), []).append(s)
    for (namespace, what), found in sorted(groups.items()):
        if len(found) > 1:
            names = sorted(object_name(r.props) for r in found)
            problems.append((f"namespace {namespace}: {len(found)} {what} objects {names}", found[1].urn))
    return problems


@rule(
    "environment-consistent",
    "stack",
    "The stack's environment (output `environment`) is dev, staging or prod, agrees with the stack name "
    "and the namespace label, and staging/prod talk to a cluster (no renderYamlToDirectory).",
    "Set mindie:environment to the stack's environment; give staging and prod a kubeconfig context.",
    scope="stack",
)
def environment_consistent(stack: StackView) -> list[tuple[str, Optional[str]]]:
    env = stack.environment
    urn = stack.stack.urn if stack.stack else None
    if env not in ENVIRONMENTS:
        return [(f"stack output environment = {env!r}: must be one of {list(ENVIRONMENTS)}", urn)]
    problems: list[tuple[str, Optional[str]]] = []
    tokens = set(re.split(r"[-_.]", stack.stack_name))
    named = tokens & set(ENVIRONMENTS)
    if named and env not in named:
        problems.append((f"stack {stack.stack_name!r} declares environment {env!r}", urn))
    for ns in stack.of_kind("Namespace"):
        label = get(labels(ns.props), ENVIRONMENT_LABEL)
        if label is not None and label != env:
            problems.append(
                (
                    f"Namespace {object_name(ns.props)} labelled environment {label!r}, stack is {env!r}",
                    ns.urn,
                )
            )
    if env in ("staging", "prod"):
        for p in stack.of_type("pulumi:providers:kubernetes"):
            if get(p.props, "renderYamlToDirectory"):
                problems.append(
                    (f"provider {p.name} renders YAML in {env}: nothing would reach the cluster", p.urn)
                )
    return problems
