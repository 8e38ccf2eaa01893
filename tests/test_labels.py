"""One meaning for each standard label (components/labels.py), in every committed stack.

`app.kubernetes.io/instance` names the installation an object belongs to: a workload's objects carry
its Deployment's name; objects of the whole stack (CA Secrets, NetworkPolicies, the Namespace,
Motor's shared files) carry the stack's, which is its namespace. Selectors are name + instance only.
"""

from __future__ import annotations

import pytest

NAME, INSTANCE = "app.kubernetes.io/name", "app.kubernetes.io/instance"
COMPONENT, PART_OF, MANAGED_BY = (
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"


def labelled(result) -> list[tuple[str, str, dict]]:
    """(type, name, labels) of every Kubernetes object of a run that carries standard labels."""
    found = []
    for r in result.resources:
        metadata = r.inputs.get("metadata") if isinstance(r.inputs, dict) else None
        labels = (metadata or {}).get("labels") or {}
        if r.type.startswith("kubernetes:") and INSTANCE in labels:
            found.append((r.type, metadata.get("name"), labels))
    return found


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_workload_is_its_own_instance(run_stack, stack):
    result = run_stack(stack)
    deployments = result.by_type(DEPLOYMENT)
    assert deployments
    for d in deployments:
        name = d.inputs["metadata"]["name"]
        selector = d.inputs["spec"]["selector"]["matchLabels"]
        template = d.inputs["spec"]["template"]["metadata"]["labels"]
        assert set(selector) == {NAME, INSTANCE}, name
        assert selector[INSTANCE] == name == d.inputs["metadata"]["labels"][INSTANCE]
        assert {k: template[k] for k in selector} == selector, f"{name}: its pods carry its selector"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_instance_names_a_workload_or_the_stack(run_stack, stack):
    result = run_stack(stack)
    workloads = {d.inputs["metadata"]["name"] for d in result.by_type(DEPLOYMENT)}
    namespace = result.outputs["namespace"]
    wrong = [
        f"{kind} {name}: instance {labels[INSTANCE]!r}"
        for kind, name, labels in labelled(result)
        if labels[INSTANCE] not in workloads | {namespace}
    ]
    assert not wrong, f"neither a Deployment nor the namespace {namespace!r}:\n" + "\n".join(wrong)
    for kind, name, labels in labelled(result):
        assert labels[PART_OF] == "mindie" and labels[MANAGED_BY] == "pulumi", f"{kind} {name}"
        assert labels.get(COMPONENT), f"{kind} {name} has no component label"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_service_selects_one_workload(run_stack, stack):
    result = run_stack(stack)
    pods = {
        d.inputs["metadata"]["name"]: d.inputs["spec"]["template"]["metadata"]["labels"]
        for d in result.by_type(DEPLOYMENT)
    }
    for service in result.by_type(SERVICE):
        selector = service.inputs["spec"]["selector"]
        chosen = [n for n, labels in pods.items() if all(labels.get(k) == v for k, v in selector.items())]
        assert chosen == [selector[INSTANCE]], service.inputs["metadata"]["name"]
