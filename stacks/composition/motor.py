"""Motor from `mindie:motor`: settings mapped onto the Motor component's plain args."""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from components.ca import CertificateAuthority
from components.mindie_image import MindieImage
from components.motor import Motor, MotorArgs
from components.motor.controller import ControllerSpec, StateStorage
from components.motor.coordinator import CoordinatorPorts, CoordinatorSpec, LivenessProbe
from components.motor.files import dump
from components.motor.pods import MotorPod, Program, Resources
from components.motor.ranktable_writer import RanktableWriterSpec
from components.namespace import Namespace
from domain.enums import MotorLogLevel, PullPolicy
from stacks.settings.motor import MotorSettings
from stacks.settings.stack import Entry, Settings

from .images import mindie_image
from .motor_files import controller_config, coordinator_config, http_client_ctl_config, server_list
from .tls import identities

MOTOR_IDENTITIES = ("coordinator", "controller", "mindieclient", "mindieclient-mgmt")
"""The CA identities the Motor pods mount (their own two, the two client identities)."""


def motor_pair(
    settings: Settings,
    namespace: Namespace,
    ca: CertificateAuthority,
    server_endpoints: pulumi.Output[list[dict[str, Any]]],
    protect: bool,
    opts: pulumi.ResourceOptions,
) -> dict[str, Any]:
    """The Coordinator/Controller pair, finding the servers through their endpoints output."""
    motor = settings.motor
    server_config = settings.infer_server.mindie_server_config
    tls = server_config.enable_tls
    mies = motor.mies_install_path or server_config.mies_install_path
    image = (
        mindie_image(
            "mindie-ms",
            motor.image,
            motor.image_build,
            settings.runtime_user,
            f"{motor.mindie_user_home_path.rstrip('/')}/Ascend",
            mies,
        )
        if motor.image is not None
        else None
    )
    pod = MotorPod(
        namespace=namespace.name,
        instance=settings.namespace,
        mies_install_path=mies,
        mindie_user_home_path=motor.mindie_user_home_path,
        uid=settings.runtime_user.uid,
        gid=settings.runtime_user.gid,
        image_pull_policy=PullPolicy(motor.image_pull_policy.value),
        log_level=MotorLogLevel(motor.log_level.value),
        read_only_root_filesystem=motor.read_only_root_filesystem,
        npu_node_affinity=motor.npu_node_affinity(),
        enable_tls=tls,
        security_secrets=identities(ca, *MOTOR_IDENTITIES) if tls else None,
        tls_checksum=ca.checksum if tls else None,
    )
    coordinator = coordinator_spec(settings, image, mies, tls)
    controller = controller_spec(settings, image, mies, tls, protect)
    writer = motor.controller.ranktable_writer
    server_list_json = pulumi.Output.all(server_endpoints, namespace.name).apply(
        lambda a: dump(server_list(a[0], a[1]))
    )
    result = Motor(
        "mindie-ms",
        MotorArgs(
            pod=pod,
            coordinator=coordinator,
            controller=controller,
            writer=RanktableWriterSpec(
                image=writer.image or controller.program.image,
                resources=resources(writer.resources),
                refresh_seconds=writer.refresh_seconds,
                token_expiration_seconds=writer.token_expiration_seconds,
            ),
            http_client_ctl_json=dump(http_client_ctl_config(motor, mies, tls)),
            server_list_json=server_list_json,
        ),
        opts=opts,
    )
    outputs: dict[str, Any] = {
        "coordinatorService": result.coordinator_service,
        "controllerStateClaim": result.state_claim,
    }
    if image is not None:
        outputs["motorImage"] = {"reference": image.image_ref, "digest": image.digest}
    return outputs


def coordinator_spec(
    settings: Settings, image: Optional[MindieImage], mies: str, tls: bool
) -> CoordinatorSpec:
    c = settings.motor.coordinator
    live = c.liveness_probe
    return CoordinatorSpec(
        program=program(settings.motor, c, image),
        config_json=dump(coordinator_config(settings.motor, mies, tls)),
        ports=CoordinatorPorts(
            predict=c.ports.predict,
            manage=c.ports.manage,
            alarm=c.ports.alarm,
            external=c.ports.external,
            status=c.ports.status,
        ),
        liveness=(
            LivenessProbe(live.period_seconds, live.timeout_seconds, live.failure_threshold)
            if live.enabled
            else None
        ),
        entry=settings.entry is Entry.COORDINATOR,
        node_port=settings.infer_server.service_port,
    )


def controller_spec(
    settings: Settings, image: Optional[MindieImage], mies: str, tls: bool, protect: bool
) -> ControllerSpec:
    motor = settings.motor
    ctl = motor.controller
    server_config = settings.infer_server.mindie_server_config
    config = controller_config(
        motor,
        mies,
        tls,
        server_config.infer_port,
        server_config.management_port,
        settings.servers.engine.metrics_port,
    )
    return ControllerSpec(
        program=program(motor, ctl, image),
        config_json=dump(config),
        port=ctl.port,
        state_storage=StateStorage(
            size=ctl.state_storage.size, storage_class=ctl.state_storage.storage_class
        ),
        protect=protect,
    )


def program(motor: MotorSettings, part, image: Optional[MindieImage]) -> Program:
    """A program's pod: its own image override, else the (possibly derived) Motor image."""
    reference = motor.image_of(part)
    return Program(
        image=image.image_ref if part.image is None and image is not None else reference,
        reference=reference,
        resources=resources(part.resources),
        startup_timeout_seconds=part.startup_timeout_seconds,
        node_selector=dict(part.node_selector),
    )


def resources(r) -> Resources:
    """Settings' requests and limits (milli-cores, MiB) as the component's plain values."""
    return Resources(
        cpu_request=r.cpu_request,
        memory_request=r.memory_request,
        cpu_limit=r.cpu_limit,
        memory_limit=r.memory_limit,
    )
