"""mindie:network (and the ports and sources of what is deployed) -> the NetworkPolicies' args."""

from __future__ import annotations

import pulumi

from components.namespace import Namespace
from components.network import ExternalAccess, NetworkPolicies, NetworkPoliciesArgs
from domain.kubernetes import MS_SERVER, SERVER
from stacks.settings.stack import Entry, Settings


def network_policies(
    settings: Settings, namespace: Namespace, deployed: list[str], opts: pulumi.ResourceOptions
) -> NetworkPolicies:
    """Ingress rules for the deployed components; the entry is open on its entry port only."""
    args = network_args(settings, namespace, deployed)
    return NetworkPolicies(f"{settings.namespace}-network", args, opts=opts)


def network_args(settings: Settings, namespace: Namespace, deployed: list[str]) -> NetworkPoliciesArgs:
    return NetworkPoliciesArgs(
        namespace=namespace.name,
        entry=settings.entry.value,
        # server: its infer_port; coordinator: its predict port (ms_coordinator.json http_config).
        entry_ports=[
            settings.infer_server.mindie_server_config.infer_port
            if settings.entry is Entry.SERVER
            else settings.motor.coordinator.ports.predict
        ],
        deployed=deployed,
        entry_sources=settings.network.entry_sources,
        api_server=api_server(settings),
        # The Deployer's API creates Deployments: only msctl's sources, on its port. The servers'
        # metrics port: only the scrapers mindie:servers.metricsSources names.
        external={**ms_server_access(settings), SERVER: metrics_access(settings)},
    )


def api_server(settings: Settings) -> ExternalAccess:
    """The API server's endpoint: mindie:network.apiServer, else ms_server.json's k8s_apiserver_ip:port."""
    ms = settings.ms_server
    api = settings.network.api_server
    api_cidrs, api_ports = list(api.cidrs), set(api.ports)
    if not api_cidrs and ms is not None:
        host_bits = 32 if ":" not in ms.k8s_apiserver_ip else 128
        api_cidrs, api_ports = [f"{ms.k8s_apiserver_ip}/{host_bits}"], api_ports | {ms.k8s_apiserver_port}
    return ExternalAccess(ports=sorted(api_ports), cidrs=api_cidrs)


def ms_server_access(settings: Settings) -> dict[str, ExternalAccess]:
    ms = settings.ms_server
    if ms is None:
        return {}
    return {
        MS_SERVER: ExternalAccess(
            ports=[ms.port], cidrs=ms.msctl_source_cidrs, namespaces=list(ms.msctl.source_namespaces)
        )
    }


def metrics_access(settings: Settings) -> ExternalAccess:
    sources = settings.servers.metrics_sources
    return ExternalAccess(
        ports=[settings.servers.engine.metrics_port],
        cidrs=list(sources.cidrs),
        namespaces=list(sources.namespaces),
    )
