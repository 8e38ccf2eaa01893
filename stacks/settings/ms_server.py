"""The `mindie:msServer` setting: the ms-server (MindIE Deployer server) and its image.

Keys follow the seed's "部署Deployer服务端" part: the image's build arguments
(USER_GROUP, USER, UID, GID), the Deployment's grace period and resources, and
ms_server.json (ip, port, k8s_apiserver_ip, k8s_apiserver_port, log level, TLS
switch towards the MindIE Servers). Defaults are the seed's values; every error
names the field, the value and what is allowed.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, Optional

from pydantic import AfterValidator, Field, model_validator

from domain.enums import MotorLogLevel
from domain.images import image_tag
from domain.mindie_server_paths import service_install_path

from .fields import (
    AbsolutePath,
    Cpu,
    Digest,
    DnsLabel,
    DnsSubdomain,
    HostPath,
    IntRange,
    LinuxName,
    Memory,
    Port,
    SourceCidr,
    StrictBool,
    StrictModel,
    StrictStr,
    cpu_millicores,
    memory_bytes,
)
from .images import ImageRef, qualified

# --- small validated types ----------------------------------------------------------------------


def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address (ms_server accepts no host names)") from None
    return value


IpAddress = Annotated[StrictStr, AfterValidator(_check_ip)]


SafeHostPath = HostPath("/var/lib/mindie-ms")


# --- the model ----------------------------------------------------------------------------------


class ImageSource(StrEnum):
    EXISTING = "existing"  # use `reference` as is (built the seed's way, or by CI)
    BUILD = "build"  # build images/ms-server/Dockerfile with pulumi-docker


class RbacScope(StrEnum):
    NAMESPACE = "namespace"  # ClusterRole ms-role + RoleBinding in the stack namespace (default)
    ROLE = "role"  # Role ms-role + RoleBinding: no cluster-scoped RBAC object at all
    CLUSTER = "cluster"  # the seed: ClusterRole ms-role + ClusterRoleBinding (every namespace)


class StorageMode(StrEnum):
    PVC = "pvc"  # status data on a PersistentVolumeClaim, logs on emptyDir: passes PSS restricted
    HOST_PATH = "host_path"  # the seed's hostPath volumes: needs a privileged namespace


class MsServerImage(StrictModel):
    """Which image runs the ms-server, and how it is built when the program builds it."""

    source: ImageSource = Field(
        ImageSource.EXISTING,
        description="existing: run `reference`; build: build images/ms-server/Dockerfile and push it.",
    )
    reference: ImageRef = Field(  # type: ignore[valid-type]
        description="Image reference to run; with source=build also the name the image is tagged "
        "and pushed as (fully qualified, e.g. registry.example.com/mindie/ms-server:2.0)."
    )
    context: Optional[AbsolutePath] = Field(
        None,
        description="source=build: absolute path of the directory holding the unpacked "
        "`mindie-service/` tree (the seed's /home/{user}/package).",
    )
    base_image: ImageRef = Field(  # type: ignore[valid-type]
        "ubuntu:22.04", description="Base image (the seed: ubuntu:22.04)."
    )
    base_digest: Optional[Digest] = Field(  # type: ignore[valid-type]
        None, description="Pin the base image by digest (sha256:...); recommended for staging/prod."
    )
    push: StrictBool = Field(True, description="source=build: push to the registry (false: local only).")
    platform: Optional[StrictStr] = Field(
        None, description="Build platform, e.g. linux/arm64 (the seed's package is aarch64)."
    )
    pull_secret: Optional[DnsSubdomain] = Field(  # type: ignore[valid-type]
        None, description="Name of an existing imagePullSecret in the namespace, if the registry needs one."
    )

    @model_validator(mode="after")
    def _build_needs_context(self) -> MsServerImage:
        if self.source is ImageSource.BUILD:
            if self.context is None:
                raise ValueError(
                    "context: required when source is build (the directory holding mindie-service/)"
                )
            if "@" in self.reference:
                raise ValueError(
                    f"reference = {self.reference!r}: a built image is named by tag, not by digest"
                )
            if self.push and not qualified(self.reference):
                raise ValueError(
                    f"reference = {self.reference!r}: pushing needs a fully qualified name "
                    "(registry host first, e.g. registry.example.com/mindie/ms-server:2.0)"
                )
        if "@" in self.base_image:
            raise ValueError("base_image: give the digest in base_digest, not in the reference")
        return self

    @property
    def tag(self) -> Optional[str]:
        """The reference's tag ("2.0" of "registry:5000/ms-server:2.0@sha256:..."), if any."""
        return image_tag(self.reference)

    def base_reference(self) -> str:
        return f"{self.base_image}@{self.base_digest}" if self.base_digest else self.base_image


class ResourceAmounts(StrictModel):
    memory: Memory = Field(description='Kubernetes memory quantity, e.g. "512Mi".')  # type: ignore[valid-type]
    cpu: Cpu = Field(description='Kubernetes CPU quantity, e.g. "4" or "4000m".')  # type: ignore[valid-type]


class MsServerResources(StrictModel):
    """Container resources; the seed's values are the defaults."""

    requests: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(memory="512Mi", cpu="4"),
        description="The seed: memory 512Mi, cpu 4000m.",
    )
    limits: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(memory="1024Mi", cpu="4"),
        description="The seed: memory 1024Mi, cpu 4000m.",
    )

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> MsServerResources:
        if memory_bytes(self.limits.memory) < memory_bytes(self.requests.memory):
            raise ValueError(
                f"limits.memory = {self.limits.memory!r} is below requests.memory = "
                f"{self.requests.memory!r}: Kubernetes rejects that"
            )
        if cpu_millicores(self.limits.cpu) < cpu_millicores(self.requests.cpu):
            raise ValueError(
                f"limits.cpu = {self.limits.cpu!r} is below requests.cpu = {self.requests.cpu!r}: "
                "Kubernetes rejects that"
            )
        return self


class Rbac(StrictModel):
    scope: RbacScope = Field(
        RbacScope.NAMESPACE,
        description="namespace (default): the seed's ClusterRole granted in the stack namespace only; "
        "role: a namespaced Role instead; cluster: the seed's ClusterRoleBinding (all namespaces).",
    )


class HostPaths(StrictModel):
    """The seed's hostPath directories (storage.mode = host_path)."""

    logs: SafeHostPath = Field(  # type: ignore[valid-type]
        "/var/log/mindie-ms", description="Log directory on the node (the seed's dir1)."
    )
    data: SafeHostPath = Field("/var/lib/mindie-ms", description="status.json directory on the node (dir2).")  # type: ignore[valid-type]
    security: Optional[SafeHostPath] = Field(  # type: ignore[valid-type]
        None,
        description="The seed's imported security tree on the node (with KMC key stores); "
        "unset: the certificates come from the CA component's Secrets.",
    )


class Storage(StrictModel):
    mode: StorageMode = Field(StorageMode.PVC, description="pvc (default) or host_path (the seed).")
    size: Memory = Field("1Gi", description="Size of the status-data PVC.")  # type: ignore[valid-type]
    storage_class: Optional[DnsSubdomain] = Field(  # type: ignore[valid-type]
        None, description="StorageClass of the PVC; unset: the cluster default. Use a Retain class in prod."
    )
    log_size_limit: Memory = Field("2Gi", description="sizeLimit of the logs emptyDir (pvc mode).")  # type: ignore[valid-type]
    host_paths: HostPaths = Field(default_factory=HostPaths, description="Directories for host_path mode.")


class Msctl(StrictModel):
    """msctl's client config (msctl.json), exported as a stack output for operators."""

    dst_ip: Optional[IpAddress] = Field(  # type: ignore[valid-type]
        None, description="IP msctl connects to; unset: the ms-server Service's ClusterIP."
    )
    security_dir: StrictStr = Field(
        "./security",
        description="Where the operator imported the msclientuser certificate (the seed: ./security).",
    )
    timeout: IntRange(1, 60, "s") = Field(60, description="Seconds msctl waits for a response.")  # type: ignore[valid-type]
    log_level: MotorLogLevel = Field(MotorLogLevel.INFO, description="msctl's log level.")
    source_cidrs: Optional[list[SourceCidr]] = Field(  # type: ignore[valid-type]
        None,
        description="Addresses msctl may connect from (NetworkPolicy ipBlock on the ms-server port); "
        "unset: [<k8s_apiserver_ip>/32], the management node where the seed runs msctl. [] : none.",
    )
    source_namespaces: list[DnsLabel(63)] = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="Namespaces whose pods may run msctl (e.g. an operators' toolbox namespace); "
        "default: none.",
    )


class MsServerSettings(StrictModel):
    """The ms-server Deployer: image, user, ms_server.json, Deployment, RBAC, storage."""

    image: MsServerImage
    user: LinuxName = Field("msuser", description="Container user name (build arg USER).")  # type: ignore[valid-type]
    group: Optional[LinuxName] = Field(  # type: ignore[valid-type]
        None, description="Container group (USER_GROUP); the seed: same as user."
    )
    ip: IpAddress = Field(  # type: ignore[valid-type]
        "127.0.0.1",
        description="ms_server.json ip; a fallback only: MINDIE_MS_SERVER_IP (the pod IP) takes precedence.",
    )
    port: Port = Field(9789, description="ms_server.json port (the seed: 9789).")  # type: ignore[valid-type]
    k8s_apiserver_ip: IpAddress = Field(  # type: ignore[valid-type]
        description="IP of the Kubernetes API server (the seed: the management node's physical IP)."
    )
    k8s_apiserver_port: Port = Field(6443, description="HTTPS port of the API server.")  # type: ignore[valid-type]
    log_level: MotorLogLevel = Field(MotorLogLevel.INFO, description="ms_server.json log_info.log_level.")
    client_mindie_server_tls_enable: Optional[StrictBool] = Field(
        None,
        description="HTTPS towards the MindIE Servers; unset: the servers' enable_tls (the Deployer "
        "refuses any other value).",
    )
    termination_grace_period_seconds: IntRange(0, 3600, "s") = Field(  # type: ignore[valid-type]
        5, description="Pod grace period (the seed: 5)."
    )
    resources: MsServerResources = Field(default_factory=MsServerResources)
    rbac: Rbac = Field(default_factory=Rbac)
    storage: Storage = Field(default_factory=Storage)
    service_cluster_ip: Optional[IpAddress] = Field(  # type: ignore[valid-type]
        None, description="Pin the ClusterIP of the ms-server Service (inside the service CIDR)."
    )
    msctl: Msctl = Field(default_factory=Msctl)

    @property
    def effective_group(self) -> str:
        return self.group or self.user

    @property
    def install_path(self) -> str:
        """MIES install path inside the image (the Dockerfile's MIES_INSTALL_PATH)."""
        return service_install_path(self.user)

    @property
    def msctl_source_cidrs(self) -> list[str]:
        """Where msctl connects from: the setting, else the management node (the API server's IP)."""
        if self.msctl.source_cidrs is not None:
            return list(self.msctl.source_cidrs)
        ip = ipaddress.ip_address(self.k8s_apiserver_ip)
        return [f"{ip}/{ip.max_prefixlen}"]

    @property
    def uses_host_path(self) -> bool:
        return self.storage.mode is StorageMode.HOST_PATH
