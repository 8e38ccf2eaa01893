"""`mindie:motor:Motor`: MindIE Motor's Coordinator and Controller for `deploy_mode: single_node`
(the seed's 方式二), what deploy.sh, boot.sh and mindie_ms_{coordinator,controller}.yaml do, declared.

Motor is small: it holds the files both programs' pods read (http_client_ctl.json; the server
list, also the writer's) and composes three components:

- Coordinator (coordinator.py): ms_coordinator.json, its Deployment and Service.
- Controller (controller.py): ms_controller.json, its Deployment and fault-recovery claim.
- RanktableWriter (ranktable_writer.py): the controller pod's sidecar, its identity and permission.

They are configured from each other (ms_controller.json names the coordinator's ports, both
use the same http_client_ctl.json, the writer finds the coordinator by its selector), share the
TLS material and are deployed or not together. The JSON files come rendered (the composition:
stacks/composition/motor_files.py); nothing here reads settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from domain.kubernetes import CONTROLLER, COORDINATOR

from ..labels import selector_labels, standard_labels
from .controller import Controller, ControllerArgs, ControllerSpec
from .coordinator import Coordinator, CoordinatorArgs, CoordinatorSpec
from .files import CLIENT_IDENTITIES
from .pods import ConfigFile, MotorPod, config_map, program_labels
from .ranktable_writer import RanktableWriter, RanktableWriterArgs, RanktableWriterSpec


@dataclass(frozen=True)
class MotorArgs:
    pod: MotorPod
    """What both pods share."""
    coordinator: CoordinatorSpec
    controller: ControllerSpec
    writer: RanktableWriterSpec
    http_client_ctl_json: str
    """http_client_ctl.json: the probes' client, in both pods."""
    server_list_json: pulumi.Input[str]
    """server_list.json: the declared servers, read by the controller and the writer."""


class Motor(pulumi.ComponentResource):
    """`mindie:motor:Motor`: the Coordinator and Controller of MindIE Motor (single_node)."""

    coordinator_service: pulumi.Output[str]
    coordinator_deployment: pulumi.Output[str]
    controller_deployment: pulumi.Output[str]
    state_claim: pulumi.Output[str]

    def __init__(self, name: str, args: MotorArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:motor:Motor", name, None, opts)
        _check_tls(name, args.pod)
        child = pulumi.ResourceOptions(parent=self)
        coordinator_name, controller_name = f"{name}-coordinator", f"{name}-controller"
        # app.kubernetes.io/instance of a program's objects is its Deployment's name (components/labels.py)
        labels = program_labels(
            controller_name, controller_name, CONTROLLER, args.controller.program.reference
        )
        http_client_ctl = self._shared_file(
            args.pod,
            f"{name}-http-client-ctl-config",
            standard_labels(f"{name}-http-client-ctl", args.pod.instance, CONTROLLER),
            "http_client_ctl.json",
            args.http_client_ctl_json,
        )
        server_list = self._shared_file(
            args.pod, f"{name}-server-list", labels, "server_list.json", args.server_list_json
        )
        self.coordinator = Coordinator(
            coordinator_name,
            CoordinatorArgs(
                pod=args.pod,
                spec=args.coordinator,
                labels=program_labels(
                    coordinator_name, coordinator_name, COORDINATOR, args.coordinator.program.reference
                ),
                shared_config=[http_client_ctl],
                child_aliases=self._moved(),
            ),
            opts=child,
        )
        self.ranktable_writer = RanktableWriter(
            f"{name}-ranktable-writer",
            RanktableWriterArgs(
                pod=args.pod,
                spec=args.writer,
                account=controller_name,
                labels=labels,
                coordinator_selector=selector_labels(coordinator_name, coordinator_name),
                server_list=server_list,
                child_aliases=self._moved(),
            ),
            opts=child,
        )
        self.controller = Controller(
            controller_name,
            ControllerArgs(
                pod=args.pod,
                spec=args.controller,
                labels=labels,
                shared_config=[http_client_ctl, server_list],
                sidecar=self.ranktable_writer.sidecar,
                child_aliases=self._moved(),
            ),
            opts=child,
        )
        self.coordinator_service = self.coordinator.service_name
        self.coordinator_deployment = self.coordinator.deployment_name
        self.controller_deployment = self.controller.deployment_name
        self.state_claim = self.controller.state_claim
        self.register_outputs(
            {
                "coordinatorService": self.coordinator_service,
                "coordinatorDeployment": self.coordinator_deployment,
                "controllerDeployment": self.controller_deployment,
                "stateClaim": self.state_claim,
            }
        )

    def _moved(self) -> list[pulumi.Alias]:
        """The children of Coordinator, Controller and RanktableWriter were Motor's own before the
        split: this alias keeps their URNs, so an existing stack updates them in place."""
        return [pulumi.Alias(parent=self)]

    def _shared_file(self, pod: MotorPod, name: str, labels, key: str, text: pulumi.Input[str]) -> ConfigFile:
        """A ConfigMap `name` holding one file more than one pod stages."""
        cm = config_map(name, pod, labels, {key: text}, pulumi.ResourceOptions(parent=self))
        return ConfigFile(cm.metadata.name, key, text)


def _check_tls(name: str, pod: MotorPod) -> None:
    if not pod.enable_tls:
        return
    missing = [
        i for i in ("coordinator", "controller", *CLIENT_IDENTITIES) if i not in (pod.security_secrets or {})
    ]
    if missing:
        raise ValueError(f"{name}: enable_tls needs security_secrets for {', '.join(missing)}")
