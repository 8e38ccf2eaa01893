"""The `mindie:inferServer` setting: the seed's infer_server.json, key for key.

Field names, types and ranges follow table 2 of the seed's "使用msctl部署服务"
part (both ends of every range inclusive), so a platform engineer can paste an
existing infer_server.json under the key. Types are strict: "2" is not an int
and "yes" is not a bool, exactly as msctl's own JSON parser would refuse them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Optional

from pydantic import Field, model_validator

from domain.kubernetes import NODE_PORT_RANGE
from domain.probes import INIT_DELAY, PROBE_FAILURE_THRESHOLD, PROBE_TIMEOUT

from .fields import AbsolutePath, DnsLabel, IntRange, Percent, Port, StrictBool, StrictModel, percent_value


class NpuType(StrEnum):
    ASCEND910 = "Ascend910"
    ASCEND310P = "Ascend310P"


class ServiceType(StrEnum):
    NODE_PORT = "NodePort"  # the seed: "当前只支持NodePort类型"


class ServerType(StrEnum):
    SINGLE_NODE = "mindie_single_node"
    CROSS_NODE = "mindie_cross_node"


class Scheduler(StrEnum):
    DEFAULT = "default"
    VOLCANO = "volcano"


class ResourceRequests(StrictModel):
    """Per-instance resources; an instance is one pod."""

    memory: IntRange(1000, 256000, "MB") = Field(  # type: ignore[valid-type]
        256000, description="Minimum memory of one instance in MB (the seed's default 256000)."
    )
    cpu_core: IntRange(1000, 256000, "milli-cores") = Field(  # type: ignore[valid-type]
        description="Minimum CPU of one instance in milli-cores (1000 = one core)."
    )
    npu_type: NpuType = Field(description="NPU card type: Ascend910 or Ascend310P.")
    npu_chip_num: IntRange(1, 8) = Field(  # type: ignore[valid-type]
        description="NPU chips one instance uses on its node; also the server's worldSize."
    )


class MindieServerConfig(StrictModel):
    """Where and how the MindIE Server process listens inside the image."""

    mies_install_path: AbsolutePath = Field(description="Install path of MindIE in the image.")
    infer_port: Port = Field(description="Inference port of the server.")  # type: ignore[valid-type]
    management_port: Port = Field(description="Management (health) port of the server.")  # type: ignore[valid-type]
    enable_tls: StrictBool = Field(description="HTTPS between clients, coordinator and servers.")

    @model_validator(mode="after")
    def _ports_differ(self) -> MindieServerConfig:
        if self.infer_port == self.management_port:
            raise ValueError(f"infer_port and management_port are both {self.infer_port}: they must differ")
        return self


class InferServer(StrictModel):
    """The whole infer_server.json."""

    server_name: DnsLabel(48) = Field(  # type: ignore[valid-type]
        description="Service name, unique among services the Deployer manages (1-48 chars)."
    )
    replicas: IntRange(1, 256) = Field(description="Number of instances.")  # type: ignore[valid-type]
    service_port: IntRange(*NODE_PORT_RANGE) = Field(  # type: ignore[valid-type]
        description="NodePort on which users reach the service."
    )
    cross_node_num: Optional[Literal[2, 4]] = Field(
        None,
        description="Nodes per instance for mindie_cross_node; the seed: not supported yet. "
        "Accepted (2 or 4) for file compatibility and ignored for mindie_single_node.",
    )
    service_type: ServiceType = Field(description="Kubernetes Service type; only NodePort.")
    server_type: ServerType = Field(description="mindie_single_node or mindie_cross_node.")
    scheduler: Scheduler = Field(description="default or volcano (volcano for NPU fault rescheduling).")
    init_delay: IntRange(*INIT_DELAY, "s") = Field(  # type: ignore[valid-type]
        description="Seconds an instance may take to start before liveness takes over."
    )
    detect_server_inner_error: StrictBool = Field(
        description="Probes check the inner inference state, not only the process."
    )
    liveness_timeout: IntRange(*PROBE_TIMEOUT, "s") = Field(description="Liveness probe timeout.")  # type: ignore[valid-type]
    liveness_failure_threshold: IntRange(*PROBE_FAILURE_THRESHOLD) = Field(  # type: ignore[valid-type]
        description="Liveness failures before a restart."
    )
    readiness_timeout: IntRange(*PROBE_TIMEOUT, "s") = Field(description="Readiness probe timeout.")  # type: ignore[valid-type]
    readiness_failure_threshold: IntRange(*PROBE_FAILURE_THRESHOLD) = Field(  # type: ignore[valid-type]
        description="Readiness failures before the pod leaves the Service (the seed recommends 1)."
    )
    resource_requests: ResourceRequests
    mindie_server_config: MindieServerConfig
    npu_fault_reschedule: StrictBool = Field(
        False,
        description="true: graceful NPU fault rescheduling; false: forced (needs volcano).",
    )
    termination_grace_period_seconds: IntRange(0, 3600, "s") = Field(  # type: ignore[valid-type]
        description="Seconds a pod may take to finish in-flight requests on shutdown."
    )
    max_unavailable: Percent = Field(  # type: ignore[valid-type]
        description="Rolling update: floor(replicas x max_unavailable) pods may be unavailable."
    )
    max_surge: Percent = Field(  # type: ignore[valid-type]
        description="Rolling update: ceil(replicas x max_surge) extra pods may be created."
    )

    @model_validator(mode="after")
    def _rollout_can_move(self) -> InferServer:
        # Kubernetes rejects maxSurge == maxUnavailable == 0 (the rollout could never move).
        if percent_value(self.max_unavailable) == 0 and percent_value(self.max_surge) == 0:
            raise ValueError(
                'max_unavailable and max_surge are both "0%": Kubernetes rejects that, '
                'raise one of them (e.g. max_unavailable "25%")'
            )
        return self
