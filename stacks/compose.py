"""Compose a whole MindIE deployment from validated settings.

Order matters only through data: every namespaced object takes the namespace
from the Namespace component's output, so Pulumi orders them itself.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.namespace import Namespace, NamespaceArgs

from .promotion import release_output
from .settings import Environment, Settings


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
    # Lifecycle convention (issue 8, docs/lifecycle.md): components holding state take `protect`;
    # in prod their stateful children get protect + retain_on_delete, so `pulumi destroy` cannot take them.
    protect = settings.environment is Environment.PROD

    namespace = Namespace(
        settings.namespace,
        NamespaceArgs(
            name=settings.namespace,
            extra_labels={"mindie.huawei.com/environment": settings.environment.value},
            protect=protect,
        ),
        opts=k8s_opts,
    )
    # --- CA chain (issue 3) ---
    # --- ms-server Deployer (issue 4) ---
    # --- server instance groups (issue 5) ---
    # --- Coordinator/Controller (issue 6) ---

    return {
        "environment": settings.environment.value,
        "namespace": namespace.name,
        "entry": settings.entry.value,
        "serverName": settings.infer_server.server_name,
        # --- promotion (issue 8): what release runs here and where it came from ---
        "release": release_output(settings),
    }
