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

The namespace is default-deny in both directions (issue 17): one policy selects every pod
with no rule, and the others open exactly what MindIE needs:
- ingress as above; the entry's business port only from `entry_sources` when given;
- egress: DNS (kube-system's kube-dns, port 53) for every pod; each component to the
  components it calls (the mirror of the ingress table); the ms-server and the controller
  pod (its rank-table writer) to the API server's endpoints (`api_server`).
Image pulls are the kubelet's, not the pods', and are not affected. Policies only take
effect with a CNI that enforces them (Calico, Cilium, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from domain.kubernetes import COMPONENT_LABEL, CONTROLLER, COORDINATOR, MS_SERVER, SERVER

from .labels import PART_OF, standard_labels

DEFAULT_PEERS: dict[str, list[str]] = {
    # The coordinator forwards inference, the controller polls health and management
    # state, the ms-server (Deployer) checks the instances it created.
    SERVER: [COORDINATOR, CONTROLLER, MS_SERVER],
    # The controller pushes the instance list and status to the coordinator's manage port.
    COORDINATOR: [CONTROLLER],
    # The coordinator reports to the controller (status, alarms).
    CONTROLLER: [COORDINATOR],
    # Nothing in the namespace calls the Deployer; msctl does, from outside (ExternalAccess).
    MS_SERVER: [],
}
"""Protected component -> components allowed to open connections to it (same namespace)."""

API_CLIENTS = (MS_SERVER, CONTROLLER)
"""Pods that call the Kubernetes API: the Deployer (creates Deployments) and the controller pod's
rank-table writer (lists pods)."""

DNS_PEER = dict(
    namespace="kube-system",
    pod_labels={"k8s-app": "kube-dns"},
    ports=(("UDP", 53), ("TCP", 53)),
)
"""The cluster DNS (CoreDNS/kube-dns keep the k8s-app=kube-dns label in kube-system)."""


def component_selector(component: str) -> dict[str, str]:
    """Pods of one MindIE component (the contract label, scoped to this product)."""
    return {COMPONENT_LABEL: component, "app.kubernetes.io/part-of": PART_OF}


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
            found.append(
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_expressions=[
                            k8s.meta.v1.LabelSelectorRequirementArgs(
                                key="kubernetes.io/metadata.name",
                                operator="In",
                                values=sorted(self.namespaces),
                            )
                        ]
                    ),
                )
            )
        return found


@dataclass
class NetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    """Namespace of the protected pods (the composition passes the Namespace component's output)."""
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
    entry_sources: Optional[list[str]] = None
    """CIDRs allowed to reach the entry ports; None: any source (dev)."""
    api_server: Optional[ExternalAccess] = None
    """The API server's endpoints (cidrs; empty: any address) and ports, for `api_clients`."""
    api_clients: list[str] = field(default_factory=lambda: list(API_CLIENTS))
    """Components whose pods call the Kubernetes API."""
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
                rules.append(
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels=component_selector(src)
                                )
                            )
                            for src in sorted(sources)
                        ],
                    )
                )
            if component == args.entry and args.entry_ports and args.entry_sources != []:
                rules.append(
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=None
                        if args.entry_sources is None
                        else [
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                ip_block=k8s.networking.v1.IPBlockArgs(cidr=c)
                            )
                            for c in args.entry_sources
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")
                            for port in args.entry_ports
                        ],
                    )
                )
            outside = args.external.get(component)
            if outside is not None and outside.peers():
                rules.append(
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=outside.peers(),
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")
                            for port in outside.ports
                        ],
                    )
                )
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
        self._default_deny(name, args)
        self._egress(name, args, deployed)
        self.names = pulumi.Output.all(*[p.metadata.name for p in self.policies.values()])
        self.register_outputs({"names": self.names})

    def _policy(
        self,
        name: str,
        key: str,
        args: NetworkPoliciesArgs,
        component: Optional[str],
        spec: k8s.networking.v1.NetworkPolicySpecArgs,
    ) -> None:
        self.policies[key] = k8s.networking.v1.NetworkPolicy(
            f"{name}-{key}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{args.instance}-{key}",
                namespace=args.namespace,
                labels=standard_labels("mindie", args.instance, component or "network"),
            ),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _default_deny(self, name: str, args: NetworkPoliciesArgs) -> None:
        # Selects every pod of the namespace with no rule: whatever another policy does not open
        # is closed, in both directions (NetworkPolicies are additive allow-lists).
        self._policy(
            name,
            "default-deny",
            args,
            None,
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
            ),
        )
        dns = k8s.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels={"kubernetes.io/metadata.name": DNS_PEER["namespace"]}
            ),
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=DNS_PEER["pod_labels"]),
        )
        self._policy(
            name,
            "dns-egress",
            args,
            None,
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[dns],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol=proto)
                            for proto, port in DNS_PEER["ports"]
                        ],
                    )
                ],
            ),
        )

    def _egress(self, name: str, args: NetworkPoliciesArgs, deployed: set[str]) -> None:
        """Per component: to the components it calls (mirror of `peers`), and the API server."""
        for source in sorted(deployed):
            targets = sorted(t for t, srcs in args.peers.items() if source in srcs and t in deployed)
            rules = []
            if targets:
                rules.append(
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=component_selector(t))
                            )
                            for t in targets
                        ]
                    )
                )
            api = args.api_server
            if source in args.api_clients and api is not None and api.ports:
                net = k8s.networking.v1
                blocks = [net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr=c)) for c in api.cidrs]
                rules.append(
                    net.NetworkPolicyEgressRuleArgs(
                        to=blocks or None,  # no address known: any address, on the API ports only
                        ports=[net.NetworkPolicyPortArgs(port=p, protocol="TCP") for p in api.ports],
                    )
                )
            if not rules:
                continue
            self._policy(
                name,
                f"{source}-egress",
                args,
                source,
                k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=component_selector(source)),
                    policy_types=["Egress"],
                    egress=rules,
                ),
            )
