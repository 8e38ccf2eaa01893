"""NetworkPolicies: who may connect to the MindIE Servers, the Coordinator and the Controller.

The seed deploys without any NetworkPolicy, so every pod of the cluster can call
the servers' inference and management ports and the Motor components. This
component declares one ingress policy per protected component:

- peers inside the namespace, by component label (e.g. only the coordinator,
  controller and ms-server may reach the servers);
- the entry component (mindie:entry) additionally accepts traffic from anywhere,
  on its entry port(s) only: NodePort traffic arrives from outside the cluster;
- the ms-server (Deployer), whose API creates Deployments, has no in-namespace
  peer: only msctl reaches it, on its port, from the configured `external` sources
  (addresses, by default the management node, and/or namespaces).

Policies are declared only for the components that are deployed (`deployed`), and
only deployed components are listed as sources: a policy selecting no pods protects
nothing and misleads a reviewer.

Egress is not restricted (DNS, the API server for the ms-server, image pulls);
the policy pack's `network-policies` rule checks the ingress side. Policies only
take effect with a CNI that enforces them (Calico, Cilium, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from .labels import PART_OF, standard_labels

DEFAULT_PEERS: dict[str, list[str]] = {
    # The coordinator forwards inference, the controller polls health and management
    # state, the ms-server (Deployer) checks the instances it created.
    "server": ["coordinator", "controller", "ms-server"],
    # The controller pushes the instance list and status to the coordinator's manage port.
    "coordinator": ["controller"],
    # The coordinator reports to the controller (status, alarms).
    "controller": ["coordinator"],
    # Nothing in the namespace calls the Deployer; msctl does, from outside (ExternalAccess).
    "ms-server": [],
}
"""Protected component -> components allowed to open connections to it (same namespace)."""


def component_selector(component: str) -> dict[str, str]:
    """Pods of one MindIE component (the contract label, scoped to this product)."""
    return {"app.kubernetes.io/component": component, "app.kubernetes.io/part-of": PART_OF}


@dataclass
class ExternalAccess:
    """Sources outside the namespace allowed to reach one component, on named ports only."""

    ports: list[int]
    """TCP ports the sources may connect to (the ms-server: ms_server.json port)."""
    cidrs: list[str] = field(default_factory=list)
    """Source networks (ipBlock), e.g. the management node where msctl runs, as /32."""
    namespaces: list[str] = field(default_factory=list)
    """Namespaces (by `kubernetes.io/metadata.name`) whose pods may connect."""

    def peers(self) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
        found = [
            k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
            for cidr in self.cidrs
        ]
        if self.namespaces:
            found.append(k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_expressions=[
                    k8s.meta.v1.LabelSelectorRequirementArgs(
                        key="kubernetes.io/metadata.name", operator="In", values=sorted(self.namespaces)
                    )
                ]),
            ))
        return found


@dataclass
class NetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    """Namespace of the protected pods (compose passes the Namespace component's output)."""
    entry: str = "server"
    """The external entry component (`server` or `coordinator`): the only one reachable from outside."""
    entry_ports: list[int] = field(default_factory=list)
    """Ports on which the entry accepts connections from any source (server: infer_port;
    coordinator: its predict port). Empty: the entry, too, is reachable only from its peers."""
    peers: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_PEERS.items()}
    )
    """Protected component -> components in the namespace allowed to connect to it."""
    deployed: Optional[list[str]] = None
    """Components deployed in the namespace: policies only for these, sources only among these.
    None: every component of `peers`."""
    external: dict[str, ExternalAccess] = field(default_factory=dict)
    """Protected component -> sources outside the namespace (ms-server: msctl's)."""
    instance: str = "mindie"
    """`app.kubernetes.io/instance` of the policies' labels."""


class NetworkPolicies(pulumi.ComponentResource):
    """`mindie:network:NetworkPolicies`: one ingress NetworkPolicy per protected component."""

    names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:network:NetworkPolicies", name, None, opts)
        if args.entry not in args.peers:
            raise ValueError(f"entry {args.entry!r} is not a protected component {sorted(args.peers)}")
        deployed = set(args.peers if args.deployed is None else args.deployed)
        self.policies: dict[str, k8s.networking.v1.NetworkPolicy] = {}
        for component, all_sources in sorted(args.peers.items()):
            if component not in deployed:
                continue
            sources = [src for src in all_sources if src in deployed]
            rules = []
            if sources:
                rules.append(k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=component_selector(src))
                        )
                        for src in sorted(sources)
                    ],
                ))
            if component == args.entry and args.entry_ports:
                rules.append(k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")
                        for port in args.entry_ports
                    ],
                ))
            outside = args.external.get(component)
            if outside is not None and outside.peers():
                rules.append(k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=outside.peers(),
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")
                        for port in outside.ports
                    ],
                ))
            self.policies[component] = k8s.networking.v1.NetworkPolicy(
                f"{name}-{component}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{args.instance}-{component}-ingress",
                    namespace=args.namespace,
                    labels=standard_labels("mindie", args.instance, component),
                ),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=component_selector(component)),
                    policy_types=["Ingress"],
                    ingress=rules,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.names = pulumi.Output.all(*[p.metadata.name for p in self.policies.values()])
        self.register_outputs({"names": self.names})
