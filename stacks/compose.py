"""Compose a whole MindIE deployment from validated settings.

Order matters only through data: every namespaced object takes the namespace
from the Namespace component's output, so Pulumi orders them itself.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.namespace import Namespace, NamespaceArgs
from components.network import NetworkPolicies, NetworkPoliciesArgs

from .settings import Entry, Settings

COORDINATOR_PREDICT_PORT = 1025
"""ms_coordinator.json http_config predict port (the Coordinator's inference entry)."""


def kubernetes_provider(settings: Settings, stack: str) -> k8s.Provider:
    """The explicit provider every Kubernetes object uses (never the ambient default)."""
    target = settings.kubernetes
    if target.render_yaml_to_directory:
        return k8s.Provider(f"{stack}-k8s", render_yaml_to_directory=target.render_yaml_to_directory)
    return k8s.Provider(
        f"{stack}-k8s",
        kubeconfig=target.kubeconfig,
        context=target.context,
        enable_server_side_apply=target.enable_server_side_apply,
    )


def build(settings: Settings, stack: str) -> dict[str, Any]:
    """Declare every component; return the stack outputs."""
    provider = kubernetes_provider(settings, stack)
    k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": provider})

    namespace = Namespace(
        settings.namespace,
        NamespaceArgs(
            name=settings.namespace,
            extra_labels={"mindie.huawei.com/environment": settings.environment.value},
        ),
        opts=k8s_opts,
    )
    # --- CA chain (issue 3) ---
    # --- ms-server Deployer (issue 4) ---
    # --- server instance groups (issue 5) ---
    # --- Coordinator/Controller (issue 6) ---
    # --- network policies (issue 7) ---
    network = NetworkPolicies(
        f"{settings.namespace}-network",
        NetworkPoliciesArgs(
            namespace=namespace.name,
            entry=settings.entry.value,
            # server: its infer_port; coordinator: the predict port of ms_coordinator.json (1025).
            entry_ports=[
                settings.infer_server.mindie_server_config.infer_port
                if settings.entry is Entry.SERVER
                else COORDINATOR_PREDICT_PORT
            ],
        ),
        opts=k8s_opts,
    )

    return {
        "environment": settings.environment.value,
        "namespace": namespace.name,
        "entry": settings.entry.value,
        "serverName": settings.infer_server.server_name,
        "enableTls": settings.infer_server.mindie_server_config.enable_tls,
        "networkPolicies": network.names,
    }
