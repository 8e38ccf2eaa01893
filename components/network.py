"""NetworkPolicies: who may connect to the MindIE Servers, the Coordinator and the Controller.

The seed deploys without any NetworkPolicy, so every pod of the cluster can call
the servers' inference and management ports and the Motor components. This
component declares one ingress policy per protected component:

- peers inside the namespace, by component label (e.g. only the coordinator,
  controller and ms-server may reach the servers);
- the entry component (mindie:entry) additionally accepts traffic from anywhere,
  on its entry port(s) only: NodePort traffic arrives from outside the cluster.

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
}
"""Protected component -> components allowed to open connections to it (same namespace)."""


def component_selector(component: str) -> dict[str, str]:
    """Pods of one MindIE component (the contract label, scoped to this product)."""
    return {"app.kubernetes.io/component": component, "app.kubernetes.io/part-of": PART_OF}


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
    instance: str = "mindie"
    """`app.kubernetes.io/instance` of the policies' labels."""


class NetworkPolicies(pulumi.ComponentResource):
    """`mindie:network:NetworkPolicies`: one ingress NetworkPolicy per protected component."""

    names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:network:NetworkPolicies", name, None, opts)
        if args.entry not in args.peers:
            raise ValueError(f"entry {args.entry!r} is not a protected component {sorted(args.peers)}")
        self.policies: dict[str, k8s.networking.v1.NetworkPolicy] = {}
        for component, sources in sorted(args.peers.items()):
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
