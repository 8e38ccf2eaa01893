"""Compose a whole MindIE deployment from validated settings.

Order matters only through data: every namespaced object takes the namespace
from the Namespace component's output, so Pulumi orders them itself.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.ca import CertificateAuthority
from components.namespace import Namespace, NamespaceArgs

from .settings import Environment, Settings
from .tls import ca_args


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
    ca = CertificateAuthority(
        f"{settings.namespace}-ca",
        ca_args(settings.tls, namespace.name, settings.namespace,
                protect=settings.environment is Environment.PROD),
        opts=k8s_opts,
    )
    # --- ms-server Deployer (issue 4) ---
    # --- server instance groups (issue 5) ---
    # --- Coordinator/Controller (issue 6) ---

    return {
        "environment": settings.environment.value,
        "namespace": namespace.name,
        "entry": settings.entry.value,
        "serverName": settings.infer_server.server_name,
        # CA chain (issue 3): names only; every certificate's not-after and serial (hex, for
        # mindie:tls.crl.revoked); `tlsRootCa` says whether the root is the dev stand-in.
        "kubeclientCn": ca.kubeclient_cn,
        "tlsSecrets": ca.security_secrets,
        "serverCaSecret": ca.server_ca_secret,
        "tlsChecksum": ca.checksum,
        "tlsNotAfter": ca.not_after,
        "tlsSerials": ca.serials,
        "tlsRootCa": "stand-in (self-signed, dev only)" if ca.root_is_standin else "cluster CA (config)",
    }
