"""Network: Services stay in-cluster except the entry NodePort, NetworkPolicies restrict ingress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from domain.kubernetes import MINDIE_WORKLOADS, NODE_PORT_RANGE

from .access import component, fmt, get, is_map, namespace_of, number, object_name, plain, pod_template, seq
from .registry import rule
from .views import ResourceContext, StackResource, StackView

NODE_PORTS = "{}-{}".format(*NODE_PORT_RANGE)
PROTECTED_COMPONENTS = MINDIE_WORKLOADS
"""Components whose ingress a NetworkPolicy must restrict."""


@rule(
    "service-no-load-balancer",
    "network",
    "No Service is of type LoadBalancer or has externalIPs: the entry is a NodePort, everything else stays "
    "in-cluster.",
    "Use type NodePort for the entry (mindie:entry) and ClusterIP otherwise.",
    types=("Service",),
)
def service_no_load_balancer(props: Any, ctx: ResourceContext) -> list[str]:
    problems = []
    if get(props, "spec", "type") == "LoadBalancer":
        problems.append(f"Service {object_name(props)} is of type LoadBalancer")
    if seq(get(props, "spec", "externalIPs")):
        ips = plain(get(props, "spec", "externalIPs"))
        problems.append(f"Service {object_name(props)} has externalIPs {ips}")
    return problems


@rule(
    "service-node-port-range",
    "network",
    f"Every nodePort lies in {NODE_PORTS} (the seed's service_port range).",
    f"Set service_port within {NODE_PORTS}.",
    types=("Service",),
)
def service_node_port_range(props: Any, ctx: ResourceContext) -> list[str]:
    lo, hi = NODE_PORT_RANGE
    return [
        f"Service {object_name(props)}: nodePort {fmt(get(p, 'nodePort'))} outside {lo}-{hi}"
        for p in seq(get(props, "spec", "ports"))
        if get(p, "nodePort") is not None and not lo <= (number(get(p, "nodePort")) or 0) <= hi
    ]


@rule(
    "service-node-port-only-entry",
    "network",
    "Only the entry component's Service (stack output `entry`: server or coordinator) is a NodePort.",
    "Make every other Service ClusterIP; choose the entry with mindie:entry.",
    scope="stack",
)
def service_node_port_only_entry(stack: StackView) -> list[tuple[str, Optional[str]]]:
    entry = stack.entry
    allowed = (entry,) if entry else ("server", "coordinator")
    return [
        (
            f"Service {object_name(s.props)} (component {component(s.props) or '(none)'!r}) is a NodePort "
            f"but the entry is {entry or 'server or coordinator'}",
            s.urn,
        )
        for s in stack.of_kind("Service")
        if get(s.props, "spec", "type") == "NodePort" and component(s.props) not in allowed
    ]


def selector_matches(selector: Any, pod_labels: Mapping[str, Any]) -> bool:
    """A LabelSelector against labels ({} selects everything)."""
    for key in get(selector, "matchLabels", default={}):
        if pod_labels.get(key) != get(selector, "matchLabels", key):
            return False
    for expr in seq(get(selector, "matchExpressions")):
        key, op = str(get(expr, "key")), str(get(expr, "operator"))
        values = [str(v) for v in seq(get(expr, "values"))]
        present = key in pod_labels
        if op == "In" and (not present or str(pod_labels[key]) not in values):
            return False
        if op == "NotIn" and present and str(pod_labels[key]) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def open_peer(peer: Any) -> bool:
    """A NetworkPolicy peer that admits every source (any pod of any namespace, or any address)."""
    if not is_map(peer) or len(peer) == 0:
        return True
    cidr = str(get(peer, "ipBlock", "cidr", default=""))
    if cidr in ("0.0.0.0/0", "::/0"):
        return True
    ns = get(peer, "namespaceSelector")
    pods = get(peer, "podSelector")
    return ns is not None and len(ns) == 0 and (pods is None or len(pods) == 0)


def ingress_policies(stack: StackView, namespace: str, pod_labels: Mapping[str, Any]) -> list[StackResource]:
    found = []
    for np in stack.of_kind("NetworkPolicy"):
        types = [str(t) for t in seq(get(np.props, "spec", "policyTypes"))] or ["Ingress"]
        if (
            namespace_of(np.props) == namespace
            and "Ingress" in types
            and selector_matches(get(np.props, "spec", "podSelector", default={}), pod_labels)
        ):
            found.append(np)
    return found


@rule(
    "network-policies",
    "network",
    "NetworkPolicies select the server, coordinator, controller and ms-server pods (those deployed) "
    "and restrict their ingress: no rule admits every source, except the entry component's, which "
    "may be reached from anywhere on named ports only. The ms-server's API creates Deployments: "
    "only msctl's sources (addresses, namespaces) may reach it.",
    "Declare the mindie:network:NetworkPolicies component (components/network.py) or equivalent policies.",
    scope="stack",
)
def network_policies(stack: StackView) -> list[tuple[str, Optional[str]]]:
    problems: list[tuple[str, Optional[str]]] = []
    for w in stack.workloads(*PROTECTED_COMPONENTS):
        pod_labels = plain(get(pod_template(w.props), "metadata", "labels", default={}))
        comp = component(w.props)
        selecting = ingress_policies(stack, namespace_of(w.props), pod_labels)
        name = f"{w.kind} {object_name(w.props)} ({comp})"
        if not selecting:
            problems.append((f"{name}: no NetworkPolicy selects its pods, any pod may connect", w.urn))
            continue
        for np in selecting:
            for i, r in enumerate(seq(get(np.props, "spec", "ingress"))):
                sources = seq(get(r, "from"))
                if sources and not any(open_peer(s) for s in sources):
                    continue
                if comp == stack.entry and seq(get(r, "ports")):
                    continue  # the entry: reachable from outside on its named ports only
                problems.append(
                    (
                        f"{name}: NetworkPolicy {object_name(np.props)} ingress[{i}] admits every source"
                        + ("" if comp == stack.entry else f" but {comp} is not the entry")
                        + ("" if seq(get(r, "ports")) else " on every port"),
                        np.urn,
                    )
                )
    return problems
