"""Compose a whole MindIE deployment from validated settings.

Order matters only through data: every namespaced object takes the namespace
from the Namespace component's output, so Pulumi orders them itself.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.labels import selector_labels
from components.motor import Motor, MotorArgs
from components.namespace import Namespace, NamespaceArgs
from components.network import NetworkPolicies, NetworkPoliciesArgs

from .motor import motor_deployed, prefix_cache_required
from .settings import Entry, Environment, Settings


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
    entry_is_coordinator = settings.entry is Entry.COORDINATOR
    # What the servers get as `prefix_cache` (the rule lives in stacks/motor.py).
    prefix_cache = prefix_cache_required(entry_is_coordinator, settings.motor)
    motor_outputs: dict[str, Any] = {}
    if motor_deployed(entry_is_coordinator, settings.motor):
        server_config = settings.infer_server.mindie_server_config
        tls = server_config.enable_tls
        motor = Motor(
            "mindie-ms",
            MotorArgs(
                namespace=namespace.name,
                motor=settings.motor,
                mies_install_path=settings.motor.mies_install_path or server_config.mies_install_path,
                # Interim until the servers branch lands: the lead passes ServerGroup.endpoints here.
                servers=interim_server_endpoints(settings),
                server_infer_port=server_config.infer_port,
                server_management_port=server_config.management_port,
                entry_is_coordinator=entry_is_coordinator,
                node_port=settings.infer_server.service_port,
                enable_tls=tls,
                # Interim until the CA branch lands: CertificateAuthority.security_secrets / .checksum.
                security_secrets=interim_security_secrets() if tls else None,
                tls_checksum=None,
                protect=settings.environment is Environment.PROD,
                instance=settings.namespace,
            ),
            opts=k8s_opts,
        )
        motor_outputs = {
            "coordinatorService": motor.coordinator_service,
            "controllerStateClaim": motor.state_claim,
        }
    # --- network policies (issue 7) ---
    network = NetworkPolicies(
        f"{settings.namespace}-network",
        NetworkPoliciesArgs(
            namespace=namespace.name,
            entry=settings.entry.value,
            # server: its infer_port; coordinator: its predict port (ms_coordinator.json http_config).
            entry_ports=[
                settings.infer_server.mindie_server_config.infer_port
                if settings.entry is Entry.SERVER
                else settings.motor.coordinator.ports.predict
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
        "prefixCache": prefix_cache,
        **motor_outputs,
    }


def interim_server_endpoints(settings: Settings) -> pulumi.Output[list[dict[str, Any]]]:
    """The server component's `endpoints` (contract shape), built from settings until it lands."""
    server = settings.infer_server
    config = server.mindie_server_config
    return pulumi.Output.from_input(
        [
            {
                "group": server.server_name,
                "deployment": server.server_name,
                "service": server.server_name,
                "replicas": server.replicas,
                "selector": selector_labels(server.server_name, settings.namespace),
                "infer_port": config.infer_port,
                "management_port": config.management_port,
                "npu_type": server.resource_requests.npu_type.value,
                "npu_chip_num": server.resource_requests.npu_chip_num,
                "tls": config.enable_tls,
            }
        ]
    )


def interim_security_secrets() -> dict[str, str]:
    """Secret names per identity until the CA component lands (its security_secrets replace these)."""
    return {identity: f"mindie-tls-{identity}" for identity in ("coordinator", "controller", "mindieclient")}
