"""Compose a whole MindIE deployment from validated settings.

Order matters only through data: every namespaced object takes the namespace
from the Namespace component's output, so Pulumi orders them itself.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.namespace import Namespace, NamespaceArgs
from components.server import ServerGroup, ServerGroupArgs, all_endpoints

from .servers import rollout_plans, server_groups, uses_host_path
from .settings import Entry, Settings


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
            # hostPath volumes (the seed's model directory) are refused by 'baseline' and 'restricted'.
            pod_security="privileged" if uses_host_path(settings) else "restricted",
        ),
        opts=k8s_opts,
    )
    # --- CA chain (issue 3) ---
    # --- ms-server Deployer (issue 4) ---
    # --- server instance groups (issue 5) ---
    plans = rollout_plans(settings)  # validated with the settings; pure
    servers = [
        ServerGroup(
            group.server.server_name,
            ServerGroupArgs(
                namespace=namespace.name,
                server=group.server,
                servers=settings.servers,
                model=group.model,
                entry_is_server=settings.entry is Entry.SERVER,
                prefix_cache=False,  # the lead rewires: entry=coordinator and Motor's cache_affinity
                server_ca_secret=None,  # the lead rewires: ca.server_ca_secret
                tls_checksum=None,  # the lead rewires: ca.checksum
                rollout=plan,
            ),
            opts=k8s_opts,
        )
        for group, plan in zip(server_groups(settings), plans, strict=True)
    ]
    server_endpoints = all_endpoints(servers)
    # --- Coordinator/Controller (issue 6) ---

    return {
        "environment": settings.environment.value,
        "namespace": namespace.name,
        "entry": settings.entry.value,
        "serverName": settings.infer_server.server_name,
        "serverEndpoints": server_endpoints,
        "rolloutPlan": [plan.as_output() for plan in plans],
    }
