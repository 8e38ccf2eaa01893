"""Compose a whole MindIE deployment from validated settings.

Order matters only through data: every namespaced object takes the namespace
from the Namespace component's output, so Pulumi orders them itself.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.ca import CertificateAuthority
from components.namespace import Namespace
from domain.kubernetes import CONTROLLER, COORDINATOR, MS_SERVER, SERVER
from stacks.settings.motor import motor_deployed
from stacks.settings.promotion import release_output
from stacks.settings.stack import Entry, Environment, Settings

from . import accepted_findings
from .motor import motor_pair
from .ms_server import ms_server_deployer
from .namespace import namespace_args
from .network import network_policies
from .provider import kubernetes_provider
from .servers import server_instance_groups
from .tls import ca_args, ca_outputs


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
    deployed = [SERVER]
    if settings.ms_server is not None:
        deployed.append(MS_SERVER)
        outputs.update(ms_server_deployer(settings, namespace.name, ca, protect, opts))
    outputs.update(server_instance_groups(settings, namespace, ca, opts))
    if motor_deployed(settings.entry is Entry.COORDINATOR, settings.motor):
        deployed += [COORDINATOR, CONTROLLER]
        outputs.update(motor_pair(settings, namespace, ca, outputs["serverEndpoints"], protect, opts))
    network = network_policies(settings, namespace, deployed, opts)
    outputs["networkPolicies"] = network.names
    # promotion (issue 8): what release runs here and where it came from
    outputs["release"] = release_output(settings)
    return outputs
