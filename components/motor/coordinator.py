"""`mindie:motor:Coordinator`: ms_coordinator's ConfigMap, Deployment and Service.

The Deployment runs `./bin/ms_coordinator $POD_IP <predict> $POD_IP <manage>` as boot.sh does,
with startup/readiness probes on its status port and an optional liveness probe; the Service
is a NodePort when the Coordinator is the stack's entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ..labels import selector_labels
from .files import CLIENT_IDENTITIES, COORDINATOR_JSON
from .pods import ConfigFile, Program, ProgramArgs, ProgramPod, config_checksum, own_config

RESERVED_ENV = frozenset(
    {
        # The seed's pitfall: a Service named mindie-ms-coordinator injects this (tcp://ip:port)
        # into every pod with service links, and the controller reads it as a port.
        "MINDIE_MS_COORDINATOR_PORT",
        "MINDIE_MS_CONTROLLER_PORT",
        "MINDIE_MS_COORDINATOR_CONFIG_FILE_PATH",
        "MINDIE_MS_CONTROLLER_CONFIG_FILE_PATH",
        "MINDIE_MS_COORDINATOR_CONFIG_SINGLE_NODE_MAX_REQ",
        "MINDIE_MS_COORDINATOR_CONFIG_MAX_REQ",
        "MINDIE_MS_P_RATE",
        "MINDIE_MS_D_RATE",
        "GLOBAL_RANK_TABLE_FILE_PATH",
        "POD_IP",
        "MIES_INSTALL_PATH",
    }
)
"""Environment variables MindIE Motor reads: no Service may inject one of them."""


def service_link_variables(service_name: str, ports: list[tuple[int, str]] = ()) -> set[str]:
    """The variables Kubernetes' service links inject for a Service (docker-links style).

    `{NAME}_SERVICE_HOST`, `{NAME}_SERVICE_PORT`, `{NAME}_PORT`, and per port
    `{NAME}_PORT_{port}_{PROTO}` (+ `_PROTO`, `_PORT`, `_ADDR`), NAME being the
    upper-cased name with '-' turned into '_'.
    """
    name = service_name.upper().replace("-", "_")
    found = {f"{name}_SERVICE_HOST", f"{name}_SERVICE_PORT", f"{name}_PORT"}
    for port, proto in ports:
        base = f"{name}_PORT_{port}_{proto.upper()}"
        found |= {base, f"{base}_PROTO", f"{base}_PORT", f"{base}_ADDR"}
    return found


def check_service_name(service_name: str) -> str:
    """Refuse a Service name whose service-link variables MindIE Motor would read."""
    clash = sorted(service_link_variables(service_name) & RESERVED_ENV)
    if clash:
        raise ValueError(
            f"Service name {service_name!r} would inject {', '.join(clash)} into pods with service links; "
            "MindIE Motor reads that variable "
            "(the seed names the coordinator Service mindie-ms-coordinator-infer)"
        )
    return service_name


@dataclass(frozen=True)
class CoordinatorPorts:
    """ms_coordinator.json http_config ports."""

    predict: int
    manage: int
    alarm: int
    external: int
    status: int


@dataclass(frozen=True)
class LivenessProbe:
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int


@dataclass(frozen=True)
class CoordinatorSpec:
    """What only the Coordinator has: its program, its generated ms_coordinator.json, ports, entry."""

    program: Program
    config_json: str
    """ms_coordinator.json (the composition renders it from the settings)."""
    ports: CoordinatorPorts
    liveness: Optional[LivenessProbe] = None
    """The optional liveness probe on /v1/health; None: none."""
    entry: bool = True
    """The Coordinator is the external entry: its Service is a NodePort, else ClusterIP."""
    node_port: Optional[int] = None
    """nodePort of the Service when it is the entry."""


@dataclass(frozen=True, kw_only=True)
class CoordinatorArgs(ProgramArgs):
    spec: CoordinatorSpec


class Coordinator(pulumi.ComponentResource):
    """`mindie:motor:Coordinator`: the Coordinator's ConfigMap, Deployment and Service."""

    deployment_name: pulumi.Output[str]
    service_name: pulumi.Output[str]

    def __init__(self, name: str, args: CoordinatorArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:motor:Coordinator", name, None, opts)
        spec = args.spec
        if spec.entry and spec.node_port is None:
            raise ValueError(f"{name}: the coordinator is the entry, a node_port is required")
        child = pulumi.ResourceOptions(parent=self, aliases=list(args.child_aliases))
        self.config, files = own_config(name, args, "ms_coordinator.json", spec.config_json, child)
        self.deployment = self._deployment(name, args, files, child)
        self.service = self._service(name, args, child)
        self.deployment_name = self.deployment.metadata.name
        self.service_name = self.service.metadata.name
        self.register_outputs({"deployment": self.deployment_name, "service": self.service_name})

    @staticmethod
    def _deployment(
        name: str, args: CoordinatorArgs, config: list[ConfigFile], opts: pulumi.ResourceOptions
    ) -> k8s.apps.v1.Deployment:
        pod = ProgramPod(args.pod, args.spec.program)
        ports = args.spec.ports
        probes = {
            "startup_probe": pod.startup_probe(ports.status),
            "readiness_probe": pod.probe(ports.status, "/v1/readiness", period=5, timeout=10, failures=3),
        }
        lp = args.spec.liveness
        if lp is not None:
            probes["liveness_probe"] = pod.probe(
                ports.status,
                "/v1/health",
                period=lp.period_seconds,
                timeout=lp.timeout_seconds,
                failures=lp.failure_threshold,
            )
        container = pod.program_container(
            "coordinator",
            # boot.sh: cd $MIES_INSTALL_PATH; ./bin/ms_coordinator $POD_IP 1025 $POD_IP 1026
            program=f'./bin/ms_coordinator "$POD_IP" {ports.predict} "$POD_IP" {ports.manage}',
            env={"MINDIE_MS_COORDINATOR_CONFIG_FILE_PATH": COORDINATOR_JSON},
            ports=(
                ("predict", ports.predict),
                ("manage", ports.manage),
                ("alarm", ports.alarm),
                ("external", ports.external),
                ("status", ports.status),
            ),
            volume_mounts=pod.mounts(logs=("logs", f"{args.pod.mies_install_path}/logs")),
            **probes,
        )
        return pod.deployment(
            name,
            labels=dict(args.labels),
            checksum=config_checksum(*(f.text for f in config)),
            pod_spec=pod.pod_spec(
                container=container,
                init=pod.init_container(config, CLIENT_IDENTITIES),
                volumes=pod.volumes(
                    config=config,
                    own_identity="coordinator",
                    clients=CLIENT_IDENTITIES,
                    logs=k8s.core.v1.VolumeArgs(
                        name="logs", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="2Gi")
                    ),
                ),
            ),
            opts=opts,
        )

    @staticmethod
    def _service(name: str, args: CoordinatorArgs, opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        spec = args.spec
        return k8s.core.v1.Service(
            f"{name}-infer",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=check_service_name(f"{name}-infer"),
                namespace=args.pod.namespace,
                labels=dict(args.labels),
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="NodePort" if spec.entry else "ClusterIP",
                selector=selector_labels(name, name),
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="predict",
                        port=spec.ports.predict,
                        target_port="predict",
                        protocol="TCP",
                        node_port=spec.node_port if spec.entry else None,
                    )
                ],
            ),
            opts=opts,
        )
