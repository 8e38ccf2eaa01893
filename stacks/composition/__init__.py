"""Compose a whole MindIE deployment from validated settings.

Order matters only through data: every namespaced object takes the namespace
from the Namespace component's output, so Pulumi orders them itself.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.ca import CertificateAuthority
from components.motor import Motor, MotorArgs
from components.namespace import Namespace
from stacks.settings.motor import motor_deployed
from stacks.settings.promotion import release_output
from stacks.settings.stack import Entry, Environment, Settings

from . import accepted_findings
from .images import mindie_image
from .ms_server import ms_server_deployer
from .namespace import namespace_args
from .network import network_policies
from .provider import kubernetes_provider
from .servers import server_instance_groups
from .tls import ca_args, ca_outputs, identities


def build(settings: Settings, stack: str) -> dict[str, Any]:
    """Declare every component; return the stack outputs."""
    # Findings accepted on purpose carry checkov's skip annotation with the reason (issue 17).
    pulumi.runtime.register_stack_transformation(accepted_findings.transformation(settings.environment.value))
    opts = pulumi.ResourceOptions(providers={"kubernetes": kubernetes_provider(settings, stack)})
    # Lifecycle convention (issue 8, docs/lifecycle.md): components holding state take `protect`;
    # in prod their stateful children get protect + retain_on_delete, so `pulumi destroy` cannot take them.
    protect = settings.environment is Environment.PROD
    namespace = Namespace(settings.namespace, namespace_args(settings, protect), opts=opts)
    ca = CertificateAuthority(
        f"{settings.namespace}-ca",
        ca_args(settings.tls, namespace.name, settings.namespace, protect=protect),
        opts=opts,
    )
    outputs: dict[str, Any] = {
        "environment": settings.environment.value,
        "namespace": namespace.name,
        "entry": settings.entry.value,
        "serverName": settings.infer_server.server_name,
        "enableTls": settings.infer_server.mindie_server_config.enable_tls,
        **ca_outputs(ca),
    }
    deployed = ["server"]
    if settings.ms_server is not None:
        deployed.append("ms-server")
        outputs.update(ms_server_deployer(settings, namespace.name, ca, protect, opts))
    outputs.update(server_instance_groups(settings, namespace, ca, opts))
    if motor_deployed(settings.entry is Entry.COORDINATOR, settings.motor):
        deployed += ["coordinator", "controller"]
        outputs.update(motor_pair(settings, namespace, ca, outputs["serverEndpoints"], protect, opts))
    network = network_policies(settings, namespace, deployed, opts)
    outputs["networkPolicies"] = network.names
    # promotion (issue 8): what release runs here and where it came from
    outputs["release"] = release_output(settings)
    return outputs


def motor_pair(
    settings: Settings,
    namespace: Namespace,
    ca: CertificateAuthority,
    server_endpoints: pulumi.Output[list[dict[str, Any]]],
    protect: bool,
    opts: pulumi.ResourceOptions,
) -> dict[str, Any]:
    """The Coordinator/Controller pair, finding the servers through their endpoints output."""
    server_config = settings.infer_server.mindie_server_config
    tls = server_config.enable_tls
    mies_install_path = settings.motor.mies_install_path or server_config.mies_install_path
    image = (
        mindie_image(
            "mindie-ms",
            settings.motor.image,
            settings.motor.image_build,
            settings.runtime_user,
            f"{settings.motor.mindie_user_home_path.rstrip('/')}/Ascend",
            mies_install_path,
        )
        if settings.motor.image is not None
        else None
    )
    motor = Motor(
        "mindie-ms",
        MotorArgs(
            namespace=namespace.name,
            motor=settings.motor,
            mies_install_path=mies_install_path,
            servers=server_endpoints,
            server_infer_port=server_config.infer_port,
            server_management_port=server_config.management_port,
            server_metrics_port=settings.servers.engine.metrics_port,
            entry_is_coordinator=settings.entry is Entry.COORDINATOR,
            node_port=settings.infer_server.service_port,
            enable_tls=tls,
            security_secrets=(
                identities(ca, "coordinator", "controller", "mindieclient", "mindieclient-mgmt")
                if tls
                else None
            ),
            tls_checksum=ca.checksum if tls else None,
            protect=protect,
            instance=settings.namespace,
            image=image.image_ref if image is not None else None,
            runtime_user=settings.runtime_user,
        ),
        opts=opts,
    )
    outputs: dict[str, Any] = {
        "coordinatorService": motor.coordinator_service, "controllerStateClaim": motor.state_claim,
    }
    if image is not None:
        outputs["motorImage"] = {"reference": image.image_ref, "digest": image.digest}
    return outputs
