"""`mindie:motor:Controller`: ms_controller's ConfigMap, fault-recovery claim and Deployment.

The Deployment runs `./bin/ms_controller` with startup/health probes; its fault-recovery state
(the Motor logs directory) lives on a PersistentVolumeClaim, and its pod runs the rank-table
writer's sidecar (components/motor/ranktable_writer.py), which fills in the table it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ..k8s_helpers import state_claim
from .files import CONTROLLER_JSON, RANKTABLE_DIR, RANKTABLE_FILE
from .pods import ConfigFile, Program, ProgramArgs, ProgramPod, config_checksum, own_config
from .ranktable_writer import Sidecar

CLIENTS = ("mindieclient-mgmt",)
"""The controller calls the servers' management and metrics ports: the management-plane client."""


@dataclass(frozen=True)
class StateStorage:
    """The PersistentVolumeClaim of the controller's fault-recovery state."""

    size: str = "1Gi"
    storage_class: Optional[str] = None
    """None: the cluster's default class."""


@dataclass(frozen=True)
class ControllerSpec:
    """What only the Controller has: its program, its generated ms_controller.json, port, state."""

    program: Program
    config_json: str
    """ms_controller.json (the composition renders it from the settings)."""
    port: int
    """http_server port: /v1/startup and /v1/health."""
    state_storage: StateStorage = StateStorage()
    protect: bool = False
    """Protect (and retain on delete) the recovery-state claim (prod)."""


@dataclass(frozen=True, kw_only=True)
class ControllerArgs(ProgramArgs):
    spec: ControllerSpec
    sidecar: Sidecar
    """The rank-table writer the pod runs (RanktableWriter.sidecar)."""


class Controller(pulumi.ComponentResource):
    """`mindie:motor:Controller`: the Controller's ConfigMap, state claim and Deployment."""

    deployment_name: pulumi.Output[str]
    state_claim: pulumi.Output[str]

    def __init__(self, name: str, args: ControllerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:motor:Controller", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self, aliases=list(args.child_aliases))
        self.config, files = own_config(name, args, "ms_controller.json", spec.config_json, child)
        self.state = state_claim(
            f"{name}-status",
            claim_name=f"{name}-status",
            namespace=args.pod.namespace,
            labels=dict(args.labels),
            storage_class=spec.state_storage.storage_class,
            size=spec.state_storage.size,
            parent=self,
            protect=spec.protect,
            aliases=list(args.child_aliases),
        )
        self.deployment = self._deployment(name, args, files, child)
        self.deployment_name = self.deployment.metadata.name
        self.state_claim = self.state.metadata.name
        self.register_outputs({"deployment": self.deployment_name, "stateClaim": self.state_claim})

    def _deployment(
        self, name: str, args: ControllerArgs, config: list[ConfigFile], opts: pulumi.ResourceOptions
    ) -> k8s.apps.v1.Deployment:
        pod = ProgramPod(args.pod, args.spec.program)
        port = args.spec.port
        container = pod.program_container(
            "controller",
            program="./bin/ms_controller",
            env={
                "MINDIE_MS_CONTROLLER_CONFIG_FILE_PATH": CONTROLLER_JSON,
                "GLOBAL_RANK_TABLE_FILE_PATH": RANKTABLE_FILE,
            },
            ports=(("http", port),),
            volume_mounts=pod.mounts(
                logs=("status-data", f"{args.pod.mies_install_path}/logs"),
                extra=[k8s.core.v1.VolumeMountArgs(name="ranktable", mount_path=RANKTABLE_DIR)],
            ),
            startup_probe=pod.startup_probe(port),
            liveness_probe=pod.probe(port, "/v1/health", period=10, timeout=10, failures=3),
        )
        volumes = pod.volumes(
            config=config,
            own_identity="controller",
            clients=CLIENTS,
            logs=k8s.core.v1.VolumeArgs(
                name="status-data",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=self.state.metadata.name
                ),
            ),
            extra=[
                k8s.core.v1.VolumeArgs(
                    name="ranktable", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")
                ),
                *args.sidecar.volumes,
            ],
        )
        return pod.deployment(
            name,
            labels=dict(args.labels),
            checksum=config_checksum(*(f.text for f in config), *args.sidecar.config_texts),
            # One controller at a time: two would both write the recovery state, and a
            # ReadWriteOnce claim cannot follow a surge pod to another node.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
            pod_spec=pod.pod_spec(
                service_account=args.sidecar.service_account,
                sidecars=[args.sidecar.container],
                container=container,
                init=pod.init_container(config, CLIENTS),
                volumes=volumes,
            ),
            opts=opts,
        )
