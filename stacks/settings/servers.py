"""Settings of the MindIE Server instance groups: `mindie:servers` and `mindie:npuInventory`.

`mindie:inferServer` (the seed's infer_server.json) describes the first instance
group. `mindie:servers` adds what infer_server.json left to the Deployer's
environment: the image, where the model weights come from, the writable and
shared-memory volumes, the pod security context, the few config.json knobs, and
optional extra instance groups (e.g. an Ascend310P group beside an Ascend910
one, as the seed's mindie_server_heterogeneous.yaml). `mindie:npuInventory`
declares the cluster's NPU capacity so rollouts are checked for deadlocks.

Extra groups use the seed's snake_case keys (they are "another infer_server.json"
with only what differs); the other keys are camelCase like the rest of the
stack config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Optional

from pydantic import AfterValidator, Field, model_validator

from domain.enums import PullPolicy, ServerLogLevel
from domain.images import image_tag, repository
from domain.kubernetes import NODE_PORT_RANGE
from domain.mindie_server_paths import MS_ROOT

from .errors import SettingsError
from .fields import (
    AbsolutePath,
    DnsLabel,
    HostPath,
    IntRange,
    Percent,
    Port,
    Quantity,
    SourceCidr,
    StrictBool,
    StrictModel,
    StrictStr,
    percent_value,
)
from .images import ImageBuild, ImageRef
from .infer_server import InferServer, NpuType, ResourceRequests
from .motor import MotorSettings
from .rollout import GroupDemand, Pool, RolloutPlan, plan_all

_NODE_PORTS = "{} to {}".format(*NODE_PORT_RANGE)


class DeviceModel(StrEnum):
    """The hardware a group runs on; decides MindCluster's ring-controller label and the image variant."""

    ATLAS_800I_A2 = "800I-A2"  # Ascend 910B
    ASCEND_910 = "910"  # first-generation Ascend 910
    ATLAS_300I_DUO = "300I-Duo"  # Ascend 310P


RING_CONTROLLER_BY_MODEL = {
    # MindCluster's `ring-controller.atlas`: the Deployer's cross-node code and the kubectl scripts label
    # 910B pods ascend-910b (Ascend-MindIE-Motor@28a7e9f: deployer/infer_manager/CrossNodeServer.cpp);
    # ascend-910 is the first-generation 910 only; ascend-310P (SingleNodeServer.cpp CreateDeployJson).
    DeviceModel.ATLAS_800I_A2: "ascend-910b",
    DeviceModel.ASCEND_910: "ascend-910",
    DeviceModel.ATLAS_300I_DUO: "ascend-310P",
}
NPU_TYPE_OF_MODEL = {
    DeviceModel.ATLAS_800I_A2: "Ascend910",
    DeviceModel.ASCEND_910: "Ascend910",
    DeviceModel.ATLAS_300I_DUO: "Ascend310P",
}
CHIPS_PER_NODE = {
    # NPU chips one node of the model carries: the upper bound of npuDeviceIds (MindIE-LLM
    # backend_config.cpp checks only non-negative, unique and count = worldSize).
    DeviceModel.ATLAS_800I_A2: 8,
    DeviceModel.ASCEND_910: 8,
    DeviceModel.ATLAS_300I_DUO: 16,  # up to 8 Duo cards x 2 chips in an Atlas 800 inference server
}
DEFAULT_DEVICE_MODELS = {
    NpuType.ASCEND910: DeviceModel.ATLAS_800I_A2,
    NpuType.ASCEND310P: DeviceModel.ATLAS_300I_DUO,
}
IMAGE_VARIANTS = {
    # The MindIE image tag names the hardware it is built for (e.g. 2.0.RC1-800I-A2-py311-...).
    DeviceModel.ATLAS_800I_A2: "800I-A2",
    DeviceModel.ASCEND_910: "800I-A2",
    DeviceModel.ATLAS_300I_DUO: "300I-Duo",
}

SafeHostPath = HostPath(f"{MS_ROOT}/model or /data/models")

_RELATIVE = re.compile(r"^([A-Za-z0-9._-]+)(/[A-Za-z0-9._-]+)*$")


def _check_relative(value: str) -> str:
    if value and (not _RELATIVE.fullmatch(value) or ".." in value.split("/")):
        raise ValueError("must be a relative path below the mount (letters, digits, '._-', '/'; no '..')")
    return value


RelativePath = Annotated[StrictStr, AfterValidator(_check_relative)]


class HostPathType(StrEnum):
    """hostPath types allowed for server volumes: the path must already exist as a directory."""

    DIRECTORY = "Directory"


class LimitPolicy(StrEnum):
    """How container limits relate to the requests."""

    GUARANTEED = "guaranteed"  # limits = requests: QoS Guaranteed (this program's default)
    DEPLOYER = "deployer"  # the Deployer's: memory and CPU limits twice the requests


class HostPathVolume(StrictModel):
    """A directory on every node the pods may land on (the seed's way)."""

    path: SafeHostPath = Field(description="Absolute host path; not under /home or a system directory.")
    type: HostPathType = Field(
        HostPathType.DIRECTORY, description="hostPath type: Directory (must exist; never created as root)."
    )


class ClaimVolume(StrictModel):
    """A PersistentVolumeClaim in the stack's namespace (works under Pod Security 'restricted')."""

    claim_name: DnsLabel(63) = Field(alias="claimName", description="Name of the PVC.")  # type: ignore[valid-type]
    read_only: StrictBool = Field(
        True, alias="readOnly", description="Mount read-only (weights are never written)."
    )


class ModelSource(StrictModel):
    """Where the model weights come from; exactly one of hostPath / persistentVolumeClaim."""

    host_path: Optional[HostPathVolume] = Field(None, alias="hostPath")
    persistent_volume_claim: Optional[ClaimVolume] = Field(None, alias="persistentVolumeClaim")
    mount_path: AbsolutePath = Field(
        f"{MS_ROOT}/model", alias="mountPath", description="Mount point in the container (the seed's)."
    )
    weight_dir: RelativePath = Field(  # type: ignore[valid-type]
        "",
        alias="weightDir",
        description="Weights directory below the mount; config.json modelWeightPath = mountPath/weightDir.",
    )
    model_name: StrictStr = Field(
        "llama3-70b",
        alias="modelName",
        min_length=1,
        max_length=128,
        description="config.json modelName: the model id clients send.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelSource:
        if (self.host_path is None) == (self.persistent_volume_claim is None):
            raise ValueError("set exactly one of hostPath and persistentVolumeClaim")
        return self

    @property
    def weight_path(self) -> str:
        return f"{self.mount_path}/{self.weight_dir}" if self.weight_dir else self.mount_path


def _default_model() -> ModelSource:
    return ModelSource(hostPath=HostPathVolume(path=f"{MS_ROOT}/model"))


class WritableData(StrictModel):
    """The seed's writable directory (logs): an emptyDir unless a hostPath is given."""

    mount_path: AbsolutePath = Field(
        f"{MS_ROOT}/writable-data", alias="mountPath", description="Mount point (the seed's); logs go here."
    )
    size_limit: Quantity = Field("20Gi", alias="sizeLimit", description="emptyDir size limit.")  # type: ignore[valid-type]
    host_path: Optional[HostPathVolume] = Field(
        None, alias="hostPath", description="Keep the data on the node instead (the seed's way)."
    )


class PodSecurity(StrictModel):
    """Pod/container security context knobs; everything else is fixed to the tightest setting.

    The UID/GID (runAsUser, runAsGroup, fsGroup) are not here: they are `mindie:runtimeUser`, shared
    with the derived image and the other MindIE pods (stacks/settings/runtime_user.py).
    """

    supplemental_groups: list[IntRange(1, 2147483647)] = Field(  # type: ignore[valid-type]
        default_factory=list,
        alias="supplementalGroups",
        description="Extra groups, e.g. the nodes' HwHiAiUser GID that owns /dev/davinci*.",
    )
    read_only_root_filesystem: StrictBool = Field(
        False,
        alias="readOnlyRootFilesystem",
        description="true when the image writes nothing outside the mounted volumes.",
    )


class MetricsSources(StrictModel):
    """Sources outside the namespace allowed to reach the servers' metrics port (e.g. Prometheus)."""

    cidrs: list[SourceCidr] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Source networks in CIDR form, e.g. 10.30.0.0/24."
    )
    namespaces: list[DnsLabel(63)] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Namespaces whose pods may scrape, e.g. monitoring."
    )


class Engine(StrictModel):
    """The config.json knobs that are not derived from infer_server.json."""

    max_seq_len: IntRange(1, 1048576) = Field(  # type: ignore[valid-type]
        2560, alias="maxSeqLen", description="Longest sequence (input + output tokens)."
    )
    max_input_token_len: IntRange(1, 1048576) = Field(  # type: ignore[valid-type]
        2048, alias="maxInputTokenLen", description="Longest input; at most maxSeqLen."
    )
    max_batch_size: IntRange(1, 5000) = Field(  # type: ignore[valid-type]
        200, alias="maxBatchSize", description="Largest decode batch."
    )
    max_prefill_batch_size: IntRange(1, 5000) = Field(  # type: ignore[valid-type]
        50, alias="maxPrefillBatchSize", description="Largest prefill batch."
    )
    max_prefill_tokens: IntRange(1, 1048576) = Field(  # type: ignore[valid-type]
        8192, alias="maxPrefillTokens", description="Token budget of one prefill batch."
    )
    metrics_port: Port = Field(  # type: ignore[valid-type]
        1027, alias="metricsPort", description="ServerConfig.metricsPort; differs from infer/management port."
    )
    log_level: ServerLogLevel = Field(
        ServerLogLevel.INFO, alias="logLevel", description="config.json LogConfig.logLevel."
    )

    @model_validator(mode="after")
    def _input_fits(self) -> Engine:
        if self.max_input_token_len > self.max_seq_len:
            raise ValueError(
                f"maxInputTokenLen {self.max_input_token_len} exceeds maxSeqLen {self.max_seq_len}"
            )
        return self


class CertSubject(StrictModel):
    """Subject of the per-pod server certificates run.sh generates (the seed's cert_info.json)."""

    country: StrictStr = Field("CN", pattern="^[A-Z]{2}$", description="C (two capital letters).")
    state: StrictStr = Field("Guangdong", min_length=1, max_length=64, description="ST.")
    locality: StrictStr = Field("Shenzhen", min_length=1, max_length=64, description="L.")
    organization: StrictStr = Field("mindie", min_length=1, max_length=64, description="O.")
    organizational_unit: StrictStr = Field(
        "mindie-server", alias="organizationalUnit", min_length=1, max_length=64
    )
    expired_days: IntRange(1, 3650, "days") = Field(  # type: ignore[valid-type]
        365, alias="expiredDays", description="Certificate lifetime (the seed's expired_time)."
    )


class ExtraGroup(StrictModel):
    """One more instance group; keys as in infer_server.json, anything unset comes from inferServer."""

    server_name: DnsLabel(48) = Field(description="Group (Deployment) name, unique in the stack.")  # type: ignore[valid-type]
    replicas: IntRange(1, 256)  # type: ignore[valid-type]
    resource_requests: ResourceRequests
    service_port: Optional[IntRange(*NODE_PORT_RANGE)] = Field(  # type: ignore[valid-type]
        None, description="Its own NodePort; required when the servers are the entry."
    )
    max_unavailable: Optional[Percent] = Field(  # type: ignore[valid-type]
        None, description="Rolling update, as in infer_server.json; unset: inferServer's."
    )
    max_surge: Optional[Percent] = Field(  # type: ignore[valid-type]
        None, description="Rolling update, as in infer_server.json; unset: inferServer's."
    )
    model: Optional[ModelSource] = Field(None, description="Another model for this group.")
    image: Optional[ImageRef] = Field(  # type: ignore[valid-type]
        None,
        description="Image of this group (e.g. the 300I-Duo variant for Ascend310P); "
        "unset: mindie:servers.image.",
    )


class ServersSettings(StrictModel):
    """`mindie:servers`."""

    image: ImageRef = Field(  # type: ignore[valid-type]
        "mindie:server",
        description="Server image (the seed tags it mindie:server): a non-root MindIE image of the KMC-free "
        "line; with imageBuild, the name the derived image is tagged and pushed as.",
    )
    image_build: Optional[ImageBuild] = Field(
        None,
        alias="imageBuild",
        description="Derive the non-root image from the stock MindIE image (images/mindie/Dockerfile) and "
        "push it as `image`; unset: `image` is run as is.",
    )
    image_pull_policy: PullPolicy = Field(
        PullPolicy.IF_NOT_PRESENT, alias="imagePullPolicy", description="Container imagePullPolicy."
    )
    ascend_home: Optional[AbsolutePath] = Field(
        None,
        alias="ascendHome",
        description="Directory holding ascend-toolkit, mindie, nnal, atb-models in the image; "
        "default: mies_install_path up to '/mindie/'.",
    )
    model: ModelSource = Field(default_factory=_default_model)
    writable_data: WritableData = Field(default_factory=WritableData, alias="writableData")
    shm_size_limit: Quantity = Field(  # type: ignore[valid-type]
        "16Gi",
        alias="shmSizeLimit",
        description="/dev/shm (memory emptyDir; counts against the memory limit).",
    )
    security_context: PodSecurity = Field(default_factory=PodSecurity, alias="securityContext")
    mount_driver_from_host: StrictBool = Field(
        False,
        alias="mountDriverFromHost",
        description="Mount the Ascend driver from the node (only without the Ascend Docker Runtime).",
    )
    limit_policy: LimitPolicy = Field(LimitPolicy.GUARANTEED, alias="limitPolicy")
    engine: Engine = Field(default_factory=Engine)
    cert_subject: CertSubject = Field(default_factory=CertSubject, alias="certSubject")
    metrics_sources: MetricsSources = Field(
        default_factory=lambda: MetricsSources(),
        alias="metricsSources",
        description="Who outside the namespace may scrape the servers' metrics port (NetworkPolicy); "
        "default: nobody (the Controller and Coordinator reach it as peers).",
    )
    device_models: dict[NpuType, DeviceModel] = Field(
        default_factory=lambda: dict(DEFAULT_DEVICE_MODELS),
        alias="deviceModels",
        description="Device model per NPU type (800I-A2 | 910 | 300I-Duo): ring-controller.atlas label, "
        "image variant and chips per node follow it.",
    )
    extra_groups: list[ExtraGroup] = Field(
        default_factory=list,
        alias="extraGroups",
        max_length=63,  # 64 groups in all: the growth benchmark previews 32
        description="More instance groups (e.g. Ascend310P beside Ascend910), each its own Deployment.",
    )

    @property
    def uses_host_path(self) -> bool:
        """True when a server pod mounts a hostPath (Pod Security 'baseline' and 'restricted' forbid it)."""
        models = [self.model, *(g.model for g in self.extra_groups if g.model is not None)]
        return (
            self.mount_driver_from_host
            or self.writable_data.host_path is not None
            or any(m.host_path is not None for m in models)
        )


class NpuPool(StrictModel):
    """Capacity of one NPU type: identical nodes with this many chips each."""

    nodes: IntRange(1, 100000) = Field(description="NPU nodes of this type.")  # type: ignore[valid-type]
    chips_per_node: IntRange(1, 64) = Field(  # type: ignore[valid-type]
        alias="chipsPerNode", description="NPU chips of this type per node."
    )


NpuInventory = dict[NpuType, NpuPool]


@dataclass(frozen=True)
class ServerGroupSpec:
    """One resolved instance group: its full infer_server.json and its model."""

    setting: str
    """Config path it came from, for messages."""
    server: InferServer
    model: ModelSource
    image: str = ""
    """The group's image (ExtraGroup.image or mindie:servers.image)."""


def instance_groups(main: InferServer, servers: ServersSettings) -> list[ServerGroupSpec]:
    """The main group from inferServer, then each extra group with inferServer's other values."""
    groups = [ServerGroupSpec("mindie:inferServer", main, servers.model, servers.image)]
    for i, extra in enumerate(servers.extra_groups):
        update = {
            "server_name": extra.server_name,
            "replicas": extra.replicas,
            "resource_requests": extra.resource_requests,
            "service_port": extra.service_port if extra.service_port is not None else main.service_port,
            "max_unavailable": extra.max_unavailable or main.max_unavailable,
            "max_surge": extra.max_surge or main.max_surge,
        }
        groups.append(
            ServerGroupSpec(
                f"mindie:servers.extraGroups[{i}]",
                main.model_copy(update=update),
                extra.model or servers.model,
                extra.image or servers.image,
            )
        )
    return groups


def ascend_home(settings_servers: ServersSettings, install_path: str) -> Optional[str]:
    """Where the image's Ascend software lives (the seed: /home/{user}/Ascend)."""
    if settings_servers.ascend_home:
        return settings_servers.ascend_home
    head, sep, _ = install_path.partition("/mindie/")
    return head if sep and head else None


def _demands(groups: list[ServerGroupSpec]) -> list[GroupDemand]:
    return [
        GroupDemand(
            group=g.server.server_name,
            setting=g.setting,
            npu_type=g.server.resource_requests.npu_type.value,
            replicas=g.server.replicas,
            chips_per_pod=g.server.resource_requests.npu_chip_num,
            max_surge=g.server.max_surge,
            max_unavailable=g.server.max_unavailable,
        )
        for g in groups
    ]


def plan_rollouts(groups: list[ServerGroupSpec], npu_inventory: Optional[NpuInventory]) -> list[RolloutPlan]:
    """The rollout plan of every group (raises SettingsError when one cannot run or finish)."""
    inventory = None
    if npu_inventory is not None:
        inventory = {
            t.value: Pool(nodes=p.nodes, chips_per_node=p.chips_per_node) for t, p in npu_inventory.items()
        }
    return plan_all(_demands(groups), inventory)


def device_model(server: InferServer, servers: ServersSettings) -> DeviceModel:
    """The device model of a group's NPU type (mindie:servers.deviceModels, else the default)."""
    npu = server.resource_requests.npu_type
    return servers.device_models.get(npu, DEFAULT_DEVICE_MODELS[npu])


def hardware_problems(
    groups: list[ServerGroupSpec], servers: ServersSettings, motor: MotorSettings
) -> list[str]:
    """Device model, chips and image variant of every group agree (issue 11 point 6, issue 18), and
    Motor's images come from the servers' repository."""
    problems = _device_model_problems(servers)
    if problems:
        return problems
    for group in groups:
        problems += _group_hardware_problems(group, servers)
    return problems + _motor_repository_problems(groups, motor)


def _device_model_problems(servers: ServersSettings) -> list[str]:
    """mindie:servers.deviceModels maps each NPU type to a device of that type."""
    problems: list[str] = []
    for npu_type, model in servers.device_models.items():
        if NPU_TYPE_OF_MODEL[model] != npu_type.value:
            problems.append(
                f'mindie:servers.deviceModels.{npu_type.value} = "{model.value}": that device is '
                f"{NPU_TYPE_OF_MODEL[model]}; allowed for {npu_type.value}: "
                + ", ".join(m.value for m, t in NPU_TYPE_OF_MODEL.items() if t == npu_type.value)
            )
    return problems


def _group_hardware_problems(group: ServerGroupSpec, servers: ServersSettings) -> list[str]:
    """The group's chips fit one node of its device model, and its image is that model's variant."""
    problems: list[str] = []
    model = device_model(group.server, servers)
    chips = group.server.resource_requests.npu_chip_num
    if chips > CHIPS_PER_NODE[model]:
        problems.append(
            f"{group.setting}.resource_requests.npu_chip_num = {chips}: a {model.value} node has "
            f"{CHIPS_PER_NODE[model]} chips (npuDeviceIds 0..{CHIPS_PER_NODE[model] - 1})"
        )
    tag = image_tag(group.image) or ""
    for variant in IMAGE_VARIANTS.values():
        if variant in tag and variant != IMAGE_VARIANTS[model]:
            where = "image" if group.setting == "mindie:inferServer" else f"{group.setting}.image"
            problems.append(
                f'{"mindie:servers.image" if where == "image" else where} = "{group.image}": a '
                f"{variant} image for a {model.value} group "
                f"({group.server.resource_requests.npu_type.value}); "
                f"use the {IMAGE_VARIANTS[model]} variant of the same release"
            )
            break
    return problems


def _motor_repository_problems(groups: list[ServerGroupSpec], motor: MotorSettings) -> list[str]:
    """Motor's images, when set, come from a repository the servers pull from."""
    problems: list[str] = []
    if motor.image is not None:
        repos = {repository(g.image) for g in groups}
        for where, image in (
            ("mindie:motor.image", motor.image),
            ("mindie:motor.coordinator.image", motor.coordinator.image),
            ("mindie:motor.controller.image", motor.controller.image),
        ):
            if image is not None and repository(image) not in repos:
                problems.append(
                    f'{where} = "{image}": repository {repository(image)} differs from the servers\' '
                    f"{', '.join(sorted(repos))}; MindIE Server and Motor ship in one MindIE image, pull "
                    "both from one repository path"
                )
    return problems


def check_servers(
    main: InferServer,
    servers: ServersSettings,
    motor: MotorSettings,
    npu_inventory: Optional[NpuInventory],
    entry_is_server: bool,
) -> None:
    """Cross-key rules of the server groups; raise one SettingsError listing every problem."""
    problems: list[str] = []
    seen = {main.server_name: "mindie:inferServer.server_name"}
    ports = {main.service_port: "mindie:inferServer.service_port"}
    for i, extra in enumerate(servers.extra_groups):
        path = f"mindie:servers.extraGroups[{i}]"
        if extra.server_name in seen:
            problems.append(
                f'{path}.server_name = "{extra.server_name}": already used by {seen[extra.server_name]}; '
                f"every instance group needs its own name"
            )
        seen.setdefault(extra.server_name, f"{path}.server_name")
        surge = extra.max_surge or main.max_surge
        unavailable = extra.max_unavailable or main.max_unavailable
        if percent_value(surge) == 0 and percent_value(unavailable) == 0:
            problems.append(
                f'{path}: max_unavailable and max_surge are both "0%": Kubernetes rejects that, '
                f"raise one of them"
            )
        if not entry_is_server:
            continue
        if extra.service_port is None:
            problems.append(
                f"{path}.service_port: required when mindie:entry is server (each group gets its own "
                f"NodePort, allowed {_NODE_PORTS})"
            )
        elif extra.service_port in ports:
            problems.append(
                f"{path}.service_port = {extra.service_port}: already used by {ports[extra.service_port]}; "
                f"NodePorts are cluster-wide, pick another in {_NODE_PORTS}"
            )
        else:
            ports[extra.service_port] = f"{path}.service_port"
    config = main.mindie_server_config
    if servers.engine.metrics_port in (config.infer_port, config.management_port):
        problems.append(
            f"mindie:servers.engine.metricsPort = {servers.engine.metrics_port}: equals "
            f"mindie:inferServer.mindie_server_config infer_port/management_port; the three ports must differ"
        )
    if ascend_home(servers, config.mies_install_path) is None:
        problems.append(
            f"mindie:servers.ascendHome: required because mindie:inferServer.mindie_server_config."
            f"mies_install_path = \"{config.mies_install_path}\" has no '/mindie/' to derive it from "
            f"(run.sh sources <ascendHome>/ascend-toolkit/set_env.sh etc.)"
        )
    groups = instance_groups(main, servers)
    problems += hardware_problems(groups, servers, motor)
    if problems:
        raise SettingsError(problems)
    plan_rollouts(groups, npu_inventory)


__all__ = [
    "ClaimVolume",
    "Engine",
    "ExtraGroup",
    "HostPathVolume",
    "ModelSource",
    "NpuInventory",
    "NpuPool",
    "PodSecurity",
    "ServerGroupSpec",
    "ServersSettings",
    "check_servers",
    "instance_groups",
    "plan_rollouts",
]
