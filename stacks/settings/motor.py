"""The `mindie:motor` setting: the Coordinator/Controller pair of MindIE Motor (the seed's 方式二).

The seed deploys both with deploy.sh/boot.sh and three YAML files; here they are
typed settings. Values the seed fixes for `deploy_mode: single_node`
(`deploy_mode`, `scheduler_type: default_scheduler`) are not settings at all:
they are constants written by the component. The one real choice the seed
leaves, the coordinator's `algorithm_type`, is a closed set.

Whether Motor is deployed follows the entry (see `motor_deployed`): with the
Coordinator as the entry it must be; with the Server as the entry it is not,
unless `enabled: true` asks for an in-cluster Coordinator (ClusterIP).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Optional

from pydantic import Field, model_validator

from domain.enums import MotorLogLevel, PullPolicy
from domain.kubernetes import NPU_NODE_LABEL, NPU_NODE_VALUES

from .fields import (
    AbsolutePath,
    DnsSubdomain,
    IntRange,
    LabelKey,
    LabelValue,
    Port,
    StorageSize,
    StrictBool,
    StrictModel,
)
from .images import ImageBuild, TaggedImageRef

DEPLOY_MODE = "single_node"
"""ms_controller.json / ms_coordinator.json `deploy_mode` for the seed's single-node scheme."""
SCHEDULER_TYPE = "default_scheduler"
"""ms_coordinator.json `scheduler_type`: the only scheduler for deploy_mode single_node."""


class Algorithm(StrEnum):
    """ms_coordinator.json `algorithm_type` for single_node (the seed's table of 调度算法)."""

    CACHE_AFFINITY = "cache_affinity"  # OpenAI multi-turn sessions: recommended there
    ROUND_ROBIN = "round_robin"  # every other API: the default


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class Resources(StrictModel):
    """Requests and limits of one container (CPU in milli-cores, memory in MiB)."""

    cpu_request: IntRange(100, 256000, "milli-cores") = Field(  # type: ignore[valid-type]
        description="CPU request in milli-cores (1000 = one core)."
    )
    memory_request: IntRange(128, 1048576, "MiB") = Field(description="Memory request in MiB.")  # type: ignore[valid-type]
    cpu_limit: IntRange(100, 256000, "milli-cores") = Field(  # type: ignore[valid-type]
        description="CPU limit in milli-cores, at least the request."
    )
    memory_limit: IntRange(128, 1048576, "MiB") = Field(  # type: ignore[valid-type]
        description="Memory limit in MiB, at least the request."
    )

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Resources:
        if self.cpu_limit < self.cpu_request:
            raise ValueError(
                f"cpu_limit {self.cpu_limit} is below cpu_request {self.cpu_request}: "
                "a limit must be >= its request"
            )
        if self.memory_limit < self.memory_request:
            raise ValueError(
                f"memory_limit {self.memory_limit} is below memory_request {self.memory_request}: "
                "a limit must be >= its request"
            )
        return self


class LivenessProbe(StrictModel):
    """The coordinator's liveness probe (/v1/health on the status port).

    Off by default: the seed warns that under high concurrency the probe can time
    out, Kubernetes then declares the pod dead and restarts the Coordinator,
    dropping every in-flight request. Startup and readiness probes stay on.
    """

    enabled: StrictBool = Field(
        False, description="Turn the coordinator liveness probe on (the seed: be careful)."
    )
    period_seconds: IntRange(1, 300, "s") = Field(10, description="Seconds between probes.")  # type: ignore[valid-type]
    timeout_seconds: IntRange(1, 600, "s") = Field(  # type: ignore[valid-type]
        30, description="Probe timeout; also http_client_ctl's own timeout (1-600 s)."
    )
    failure_threshold: IntRange(1, 30) = Field(  # type: ignore[valid-type]
        5, description="Consecutive failures before the container is restarted."
    )


class CoordinatorPorts(StrictModel):
    """ms_coordinator.json http_config ports (the product's defaults 1025-1029)."""

    predict: Port = Field(1025, description="User-facing inference port (the entry).")  # type: ignore[valid-type]
    manage: Port = Field(1026, description="In-cluster management port (the controller talks to it).")  # type: ignore[valid-type]
    alarm: Port = Field(1027, description="Alarm port.")  # type: ignore[valid-type]
    external: Port = Field(1028, description="External port.")  # type: ignore[valid-type]
    status: Port = Field(1029, description="Status port: startup/readiness/health probes.")  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _distinct(self) -> CoordinatorPorts:
        values = self.model_dump()
        seen: dict[int, str] = {}
        for name, port in values.items():
            if port in seen:
                raise ValueError(
                    f"{seen[port]} and {name} are both {port}: the coordinator's ports must differ"
                )
            seen[port] = name
        return self


def _coordinator_resources() -> Resources:
    # The product's example mindie_ms_coordinator.yaml: requests 16 CPU / 12Gi, limits 64 CPU / 16Gi.
    return Resources(cpu_request=16000, memory_request=12288, cpu_limit=64000, memory_limit=16384)


def _controller_resources() -> Resources:
    # The product's example mindie_ms_controller.yaml: requests 4 CPU / 2Gi, limits 8 CPU / 4Gi.
    return Resources(cpu_request=4000, memory_request=2048, cpu_limit=8000, memory_limit=4096)


class Coordinator(StrictModel):
    """The Coordinator (ms_coordinator): scheduler, ports, pod placement."""

    image: Optional[TaggedImageRef] = Field(None, description="Image override; unset: mindie:motor.image.")  # type: ignore[valid-type]
    node_selector: dict[LabelKey, LabelValue] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Node labels the coordinator pod must match (the seed: nodeSelector).",
    )
    resources: Resources = Field(default_factory=_coordinator_resources)
    algorithm_type: Algorithm = Field(
        Algorithm.ROUND_ROBIN,
        description="cache_affinity (OpenAI multi-turn; entry coordinator, prefix cache) or round_robin.",
    )
    cache_size: IntRange(1, 10000) = Field(  # type: ignore[valid-type]
        100, description="cache_affinity: cache entries (ms_coordinator.json cache_size)."
    )
    slots_thresh: Fraction = Field(0.05, description="cache_affinity: free-slot warning line, 0.0-1.0.")  # type: ignore[valid-type]
    block_thresh: Fraction = Field(0.05, description="cache_affinity: free-block warning line, 0.0-1.0.")  # type: ignore[valid-type]
    ports: CoordinatorPorts = Field(default_factory=CoordinatorPorts)
    single_node_max_requests: IntRange(1, 2000) = Field(  # type: ignore[valid-type]
        1000, description="Max concurrent requests one server takes."
    )
    max_requests: IntRange(1, 90000) = Field(10000, description="Max concurrent requests in total.")  # type: ignore[valid-type]
    http_timeout_seconds: IntRange(0, 3600, "s") = Field(600, description="HTTP timeout (0: immediate).")  # type: ignore[valid-type]
    startup_timeout_seconds: IntRange(10, 3600, "s") = Field(  # type: ignore[valid-type]
        500, description="Time the coordinator may take to start before it is restarted (probe period 5 s)."
    )
    liveness_probe: LivenessProbe = Field(default_factory=LivenessProbe)


class StateStorage(StrictModel):
    """PersistentVolumeClaim for the controller's fault-recovery state (the Motor logs directory)."""

    size: StorageSize = Field("1Gi", description="Requested size, e.g. 1Gi.")  # type: ignore[valid-type]
    storage_class: Optional[DnsSubdomain] = Field(  # type: ignore[valid-type]
        None, description="StorageClass name; unset: the cluster's default class."
    )


def _writer_resources() -> Resources:
    # A Python loop that lists pods every few seconds: a tenth of a core and 128 MiB are plenty.
    return Resources(cpu_request=100, memory_request=128, cpu_limit=500, memory_limit=256)


class RanktableWriter(StrictModel):
    """The rank-table writer: a sidecar of the controller pod that fills the pod IPs in.

    It lists the namespace's pods with its own projected service-account token
    (RBAC: get/list/watch on pods, this namespace only) and writes
    global_ranktable.json into the volume the controller reads (docs/motor.md).
    """

    image: Optional[TaggedImageRef] = Field(  # type: ignore[valid-type]
        None, description="Image with python3 for the writer; unset: the controller's image."
    )
    refresh_seconds: IntRange(5, 600, "s") = Field(  # type: ignore[valid-type]
        30, description="Longest time between two full pod listings (a pod change rewrites at once)."
    )
    token_expiration_seconds: IntRange(600, 86400, "s") = Field(  # type: ignore[valid-type]
        3600, description="Lifetime of the projected service-account token (the kubelet rotates it)."
    )
    resources: Resources = Field(default_factory=_writer_resources)


class Controller(StrictModel):
    """The Controller (ms_controller): cluster state, fault recovery."""

    image: Optional[TaggedImageRef] = Field(None, description="Image override; unset: mindie:motor.image.")  # type: ignore[valid-type]
    node_selector: dict[LabelKey, LabelValue] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Node labels the controller pod must match (the seed: nodeSelector).",
    )
    resources: Resources = Field(default_factory=_controller_resources)
    port: Port = Field(1026, description="http_server port: /v1/startup and /v1/health.")  # type: ignore[valid-type]
    state_storage: StateStorage = Field(default_factory=StateStorage)
    startup_timeout_seconds: IntRange(10, 3600, "s") = Field(  # type: ignore[valid-type]
        500, description="Time the controller may take to start before it is restarted (probe period 5 s)."
    )
    disappeared_server_waiting_seconds: IntRange(1, 65535, "s") = Field(  # type: ignore[valid-type]
        7200, description="How long a vanished server stays in the cluster state."
    )
    http_timeout_seconds: IntRange(1, 65535, "s") = Field(5, description="Controller HTTP timeout.")  # type: ignore[valid-type]
    http_retries: IntRange(0, 65535) = Field(3, description="Controller HTTP retries.")  # type: ignore[valid-type]
    ranktable_writer: RanktableWriter = Field(default_factory=RanktableWriter)


class MotorSettings(StrictModel):
    """The whole `mindie:motor` key."""

    enabled: Optional[StrictBool] = Field(
        None,
        description="Deploy Coordinator and Controller. Unset: exactly when mindie:entry is coordinator.",
    )
    image: Optional[TaggedImageRef] = Field(  # type: ignore[valid-type]
        None,
        description="MindIE image holding ms_coordinator/ms_controller; required when Motor is deployed.",
    )
    image_build: Optional[ImageBuild] = Field(
        None,
        description="Derive the non-root image from the stock MindIE image (images/mindie/Dockerfile) and "
        "push it as `image`; unset: `image` is run as is. The UID is mindie:runtimeUser.",
    )
    image_pull_policy: PullPolicy = Field(PullPolicy.IF_NOT_PRESENT, description="imagePullPolicy.")
    mindie_user_home_path: AbsolutePath = Field(
        "/usr/local",
        description="The seed's MINDIE_USER_HOME_PATH: MindIE is installed at <this>/Ascend/mindie.",
    )
    mies_install_path: Optional[AbsolutePath] = Field(
        None,
        description="Motor install path in the image; unset: the inferServer's mies_install_path.",
    )
    read_only_root_filesystem: StrictBool = Field(
        True, description="Read-only root filesystem; logs, tmp and state are writable volumes."
    )
    log_level: MotorLogLevel = Field(MotorLogLevel.INFO, description="MINDIE_LOG_LEVEL of both components.")
    avoid_npu_nodes: StrictBool = Field(
        True,
        description="Keep the CPU-only coordinator and controller off NPU nodes (required node affinity "
        "`accelerator` NotIn huawei-Ascend910/huawei-Ascend310P): their CPU and memory stay for the servers.",
    )
    coordinator: Coordinator = Field(default_factory=Coordinator)
    controller: Controller = Field(default_factory=Controller)

    @model_validator(mode="after")
    def _placement_consistent(self) -> MotorSettings:
        for name, part in (("coordinator", self.coordinator), ("controller", self.controller)):
            value = part.node_selector.get(NPU_NODE_LABEL)
            if self.avoid_npu_nodes and value in NPU_NODE_VALUES:
                raise ValueError(
                    f"{name}.node_selector.{NPU_NODE_LABEL} = {value!r}: selects NPU nodes, but "
                    "avoid_npu_nodes (default true) keeps the CPU-only Motor pods off them "
                    "(unschedulable); select other nodes, or set avoid_npu_nodes: false"
                )
        return self

    def npu_node_affinity(self) -> Optional[dict]:
        """Required node affinity keeping the pods off NPU nodes (nodes without the label match)."""
        if not self.avoid_npu_nodes:
            return None
        return {
            "key": NPU_NODE_LABEL,
            "operator": "NotIn",
            "values": list(NPU_NODE_VALUES),
        }

    def image_of(self, part: Coordinator | Controller) -> str:
        image = part.image or self.image
        assert image is not None, "validated: an image is required when Motor is deployed"
        return image


def motor_deployed(entry_is_coordinator: bool, motor: MotorSettings) -> bool:
    """Motor runs when the Coordinator is the entry, or when asked for explicitly."""
    return entry_is_coordinator if motor.enabled is None else motor.enabled


def prefix_cache_required(entry_is_coordinator: bool, motor: MotorSettings) -> bool:
    """What the composition passes to the servers as `prefix_cache`.

    The rule: the servers enable prefix cache exactly when the Coordinator is
    the entry and schedules with cache_affinity. (cache_affinity with any other
    entry is rejected by `motor_problems`, so this also equals "Motor is
    deployed with cache_affinity".)
    """
    return (
        entry_is_coordinator
        and motor_deployed(entry_is_coordinator, motor)
        and motor.coordinator.algorithm_type is Algorithm.CACHE_AFFINITY
    )


def prefix_cache_mismatch(required: bool, servers_prefix_cache: Optional[bool]) -> list[str]:
    """Problems when the servers' own prefix-cache choice contradicts the coordinator's algorithm.

    `servers_prefix_cache` is an explicit server-side setting (None: not set, the
    servers follow `prefix_cache_required`). Required but explicitly off is a
    mismatch: cache_affinity would route sessions to servers that keep no cache.
    Off-required but on is allowed (prefix cache still helps repeated prefixes).
    """
    if required and servers_prefix_cache is False:
        return [
            "mindie:motor.coordinator.algorithm_type = 'cache_affinity' needs prefix cache on the servers, "
            "but the servers' prefix cache is set to false: enable it or use round_robin"
        ]
    return []


def motor_problems(entry_is_coordinator: bool, motor: MotorSettings, motor_given: bool) -> list[str]:
    """Cross-field rules between mindie:entry and mindie:motor (empty when consistent)."""
    problems: list[str] = []
    deployed = motor_deployed(entry_is_coordinator, motor)
    if entry_is_coordinator and motor.enabled is False:
        problems.append(
            "mindie:motor.enabled = false: mindie:entry is coordinator, which needs the Coordinator; "
            "set mindie:entry to server or drop enabled"
        )
    if (
        deployed
        and motor.image is None
        and (motor.coordinator.image is None or motor.controller.image is None)
    ):
        problems.append(
            "mindie:motor.image: required setting is missing (Motor is deployed: "
            + ("mindie:entry is coordinator" if entry_is_coordinator else "mindie:motor.enabled is true")
            + ")"
        )
    if motor.coordinator.algorithm_type is Algorithm.CACHE_AFFINITY and not entry_is_coordinator:
        problems.append(
            "mindie:motor.coordinator.algorithm_type = 'cache_affinity': needs mindie:entry coordinator "
            "(with the server as the entry, sessions bypass the Coordinator and never meet a warm cache)"
        )
    elif motor_given and not deployed and motor.enabled is None:
        # Settings for a Motor that is not deployed are most likely a mistake (e.g. a
        # forgotten entry: coordinator); say so instead of silently ignoring them.
        problems.append(
            "mindie:motor: set but Motor is not deployed (mindie:entry is server); "
            "set mindie:entry coordinator, or mindie:motor.enabled true for an in-cluster Coordinator"
        )
    return problems
