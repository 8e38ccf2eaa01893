"""What the Coordinator's and the Controller's pods share: their args' common part and the pod builder."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from domain import security_tree
from domain.enums import MotorLogLevel, PullPolicy
from domain.hashing import sha256_of_parts
from domain.images import image_tag

from .. import staging
from ..k8s_helpers import container_security_context, pod_security_context
from ..labels import selector_labels, standard_labels
from .files import CONFIG_DIR, HTTP_CLIENT_CTL_JSON, SECURITY_DIR


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container: CPU in milli-cores, memory in MiB."""

    cpu_request: int
    memory_request: int
    cpu_limit: int
    memory_limit: int

    def requirements(self) -> k8s.core.v1.ResourceRequirementsArgs:
        return k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": f"{self.cpu_request}m", "memory": f"{self.memory_request}Mi"},
            limits={"cpu": f"{self.cpu_limit}m", "memory": f"{self.memory_limit}Mi"},
        )


@dataclass(frozen=True)
class MotorPod:
    """Settings both Motor pods run with (plain values; the composition maps `mindie:motor` onto them)."""

    namespace: pulumi.Input[str]
    """Namespace of every object (the composition passes the Namespace component's output)."""
    instance: str
    """app.kubernetes.io/instance of Motor-wide objects (the stack's installation: its namespace); a
    program's own objects take their Deployment's name (components/labels.py)."""
    mies_install_path: str
    """Motor install path in the image (MIES_INSTALL_PATH); its `logs` holds the recovery state."""
    mindie_user_home_path: str
    """MINDIE_USER_HOME_PATH: MindIE is installed at <this>/Ascend/mindie."""
    uid: int
    """`mindie:runtimeUser`: runAsUser, and the owner MindIE checks on its files."""
    gid: int
    image_pull_policy: PullPolicy = PullPolicy.IF_NOT_PRESENT
    log_level: MotorLogLevel = MotorLogLevel.INFO
    read_only_root_filesystem: bool = True
    npu_node_affinity: Optional[Mapping[str, Any]] = None
    """A NodeSelectorRequirement keeping the CPU-only pods off NPU nodes; None: no affinity."""
    enable_tls: bool = True
    """HTTPS between coordinator, controller and servers."""
    security_secrets: Optional[Mapping[str, pulumi.Input[str]]] = None
    """Secret name per identity (CA component); with TLS: coordinator, controller, mindieclient(-mgmt)."""
    tls_checksum: Optional[pulumi.Input[str]] = None
    """The CA component's checksum: pod annotation checksum/tls, so re-issued certificates roll the pods."""


@dataclass(frozen=True)
class Program:
    """One MindIE Motor program's pod: image, placement, resources, start-up budget."""

    image: pulumi.Input[str]
    """What the program's container runs (a derived image's digest reference when built)."""
    reference: str
    """The configured image reference: the copy step's image and the version label's tag."""
    resources: Resources
    startup_timeout_seconds: int
    """Time the program may take to start before it is restarted (probe period 5 s)."""
    node_selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfigFile:
    """One key of a ConfigMap that a pod stages: the ConfigMap's name, the key, its text."""

    config_map: pulumi.Input[str]
    key: str
    text: pulumi.Input[str]
    """The content, covered by the pod's checksum/config annotation."""


@dataclass(frozen=True, kw_only=True)
class ProgramArgs:
    """What Motor hands each program's component besides its spec."""

    pod: MotorPod
    labels: Mapping[str, str]
    """The labels of its objects (Motor's choice: one set per program)."""
    shared_config: Sequence[ConfigFile]
    """Files the pod stages besides its own JSON (http_client_ctl.json; the controller: server_list.json)."""
    child_aliases: Sequence[pulumi.Alias] = ()
    """Aliases of its children (their URNs from before the component existed)."""


def program_labels(name: str, instance: str, component: str, reference: str) -> dict[str, str]:
    """The labels of a program's objects, versioned by its configured image's tag."""
    return standard_labels(name, instance, component, image_tag(reference))


def config_checksum(*texts: pulumi.Input[str]) -> pulumi.Output[str]:
    """checksum/config: a new digest, hence new pods, whenever one of the texts changes."""
    return pulumi.Output.all(*texts).apply(sha256_of_parts)


def config_map(
    name: str,
    pod: MotorPod,
    labels: Mapping[str, str],
    data: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.ConfigMap:
    """A ConfigMap `name` (also its Kubernetes name) holding `data`."""
    return k8s.core.v1.ConfigMap(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=pod.namespace, labels=dict(labels)),
        data=dict(data),
        opts=opts,
    )


def own_config(
    name: str, args: ProgramArgs, key: str, text: str, opts: pulumi.ResourceOptions
) -> tuple[k8s.core.v1.ConfigMap, list[ConfigFile]]:
    """The program's ConfigMap `<name>-config` holding its JSON `key`, and every file its pod stages."""
    cm = config_map(f"{name}-config", args.pod, args.labels, {key: text}, opts)
    return cm, [ConfigFile(cm.metadata.name, key, text), *args.shared_config]


def config_files_volume(name: str, files: Sequence[ConfigFile]) -> k8s.core.v1.VolumeArgs:
    """One read-only (0440) volume projecting ConfigMap keys as files named by their keys."""
    return k8s.core.v1.VolumeArgs(
        name=name,
        projected=k8s.core.v1.ProjectedVolumeSourceArgs(
            default_mode=0o440,
            sources=[
                k8s.core.v1.VolumeProjectionArgs(
                    config_map=k8s.core.v1.ConfigMapProjectionArgs(
                        name=f.config_map, items=[k8s.core.v1.KeyToPathArgs(key=f.key, path=f.key)]
                    )
                )
                for f in files
            ],
        ),
    )


class ProgramPod:
    """Builds a Motor program's pod: security context, environment, probes, staged files, volumes."""

    def __init__(self, pod: MotorPod, program: Program):
        self.pod = pod
        self.program = program
        self.tls = pod.enable_tls
        self.mies = pod.mies_install_path

    def _lib_env(self) -> str:
        # Appended in the shell: setting LD_LIBRARY_PATH as a container env would replace the image's.
        return f'export LD_LIBRARY_PATH="${{LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}}{self.mies}/lib"'

    def start(self, program: str) -> str:
        """boot.sh's start, without its copies into the image (the root filesystem is read-only)."""
        return (
            'source "$MINDIE_USER_HOME_PATH/Ascend/mindie/set_env.sh" && '
            f"{self._lib_env()} && "
            f'cd "$MIES_INSTALL_PATH" && exec {program}'
        )

    def probe(
        self, port: int, url: str, *, period: int, timeout: int, failures: int
    ) -> k8s.core.v1.ProbeArgs:
        # http_client_ctl <ip> <port> <url> <timeout 1-600> <retries 0-30>; its own timeout is the
        # probe's, Kubernetes waits 2 s longer so the tool reports first.
        command = (
            f"{self._lib_env()} && "
            f'exec "{self.mies}/bin/http_client_ctl" "$POD_IP" {port} {url} {min(timeout, 600)} 0'
        )
        return k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=["/bin/bash", "-c", command]),
            period_seconds=period,
            timeout_seconds=timeout + 2,
            failure_threshold=failures,
        )

    def startup_probe(self, port: int) -> k8s.core.v1.ProbeArgs:
        """Every 5 s for the program's startup timeout, 10 s per try."""
        timeout_seconds = self.program.startup_timeout_seconds
        return self.probe(port, "/v1/startup", period=5, timeout=10, failures=math.ceil(timeout_seconds / 5))

    def env(self, extra: Mapping[str, str]) -> list[k8s.core.v1.EnvVarArgs]:
        values = {
            "MINDIE_USER_HOME_PATH": self.pod.mindie_user_home_path,
            "MIES_INSTALL_PATH": self.mies,
            "HSECEASY_PATH": f"{self.mies}/lib",
            "MINDIE_UTILS_HTTP_CLIENT_CTL_CONFIG_FILE_PATH": HTTP_CLIENT_CTL_JSON,
            "MINDIE_USE_HTTPS": "true" if self.tls else "false",
            "MINDIE_LOG_TO_FILE": "1",
            "MINDIE_LOG_TO_STDOUT": "1",
            "MINDIE_LOG_LEVEL": self.pod.log_level.value,
            **extra,
        }
        env = [
            k8s.core.v1.EnvVarArgs(
                name="POD_IP",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="status.podIP")
                ),
            )
        ]
        env += [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(values.items())]
        return env

    def annotations(self, checksum: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
        found: dict[str, pulumi.Input[str]] = {"checksum/config": checksum}
        if self.tls and self.pod.tls_checksum is not None:
            found["checksum/tls"] = self.pod.tls_checksum
        return found

    def deployment(
        self, name: str, *, labels, checksum, pod_spec, opts, strategy=None
    ) -> k8s.apps.v1.Deployment:
        """A one-replica Deployment `name` whose pods roll when `checksum` (or TLS) changes."""
        return k8s.apps.v1.Deployment(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self.pod.namespace, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                strategy=strategy,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(name, name)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels, annotations=self.annotations(checksum)
                    ),
                    spec=pod_spec,
                ),
            ),
            opts=opts,
        )

    def program_container(
        self,
        name: str,
        *,
        program: str,
        env: Mapping[str, str],
        ports,
        volume_mounts,
        **probes,
    ) -> k8s.core.v1.ContainerArgs:
        """The container of one MindIE Motor program (`program`, run from boot.sh's start)."""
        return k8s.core.v1.ContainerArgs(
            name=name,
            image=self.program.image,
            image_pull_policy=self.pod.image_pull_policy.value,
            command=["/bin/bash", "-c"],
            args=[self.start(program)],
            env=self.env(env),
            ports=[k8s.core.v1.ContainerPortArgs(name=n, container_port=p, protocol="TCP") for n, p in ports],
            resources=self.program.resources.requirements(),
            security_context=self.container_security(),
            volume_mounts=volume_mounts,
            **probes,
        )

    def container_security(self) -> k8s.core.v1.SecurityContextArgs:
        return container_security_context(
            run_as_user=self.pod.uid,
            run_as_group=self.pod.gid,
            read_only_root_filesystem=self.pod.read_only_root_filesystem,
        )

    def npu_affinity(self) -> Optional[k8s.core.v1.AffinityArgs]:
        term = self.pod.npu_node_affinity
        if term is None:
            return None
        return k8s.core.v1.AffinityArgs(
            node_affinity=k8s.core.v1.NodeAffinityArgs(
                required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                    node_selector_terms=[
                        k8s.core.v1.NodeSelectorTermArgs(
                            match_expressions=[k8s.core.v1.NodeSelectorRequirementArgs(**term)]
                        )
                    ]
                )
            )
        )

    def pod_spec(
        self, *, container, volumes, init, service_account=None, sidecars=()
    ) -> k8s.core.v1.PodSpecArgs:
        return k8s.core.v1.PodSpecArgs(
            # Service links would inject <SERVICE>_PORT=tcp://... for every Service of the
            # namespace; MindIE reads MINDIE_MS_COORDINATOR_PORT (the seed's pitfall). Off.
            enable_service_links=False,
            # Neither MindIE program talks to the Kubernetes API. The controller pod's rank-table
            # writer does, through a token volume it alone mounts (see the RanktableWriter component).
            automount_service_account_token=False,
            service_account_name=service_account,
            node_selector=dict(self.program.node_selector) or None,
            # CPU-only pods: by default never on the NPU nodes (the seed's example runs them on a
            # separate node, ubuntu10), so they do not take the servers' CPU and memory.
            affinity=self.npu_affinity(),
            security_context=pod_security_context(
                run_as_user=self.pod.uid, run_as_group=self.pod.gid, fs_group=self.pod.gid
            ),
            init_containers=[init],
            containers=[container, *sidecars],
            volumes=volumes,
        )

    def mounts(self, *, logs: tuple[str, str], extra=()) -> list[k8s.core.v1.VolumeMountArgs]:
        """The program's mounts: the staged config and (TLS) certificates read-only, logs, tmp."""
        found = [
            staging.mount("conf", CONFIG_DIR),
            k8s.core.v1.VolumeMountArgs(name=logs[0], mount_path=logs[1]),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            *extra,
        ]
        if self.tls:
            found.append(staging.mount("security", SECURITY_DIR))
        return found

    def staged_files(self, config: Sequence[ConfigFile], clients) -> list[staging.StagedFile]:
        """The copy step's files (components/staging.py): JSON at 0640, identities at 0400."""
        files = [
            staging.StagedFile(f"{staging.SOURCE}/config/{f.key}", f"conf/{f.key}", staging.CONFIG_MODE)
            for f in config
        ]
        if self.tls:
            # "self" is the pod's own identity (coordinator or controller): like the clients, an
            # encrypted key with its password file, and a CRL.
            for identity in ("self", *clients):
                files += staging.tls_files(
                    identity, f"{staging.SOURCE}/tls-{identity}", f"security/{identity}"
                )
        return files

    def init_container(self, config: Sequence[ConfigFile], clients) -> k8s.core.v1.ContainerArgs:
        """The copy step, in the program's configured image and uid (the owner MindIE checks)."""
        sources = [
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=f"{staging.SOURCE}/config", read_only=True)
        ]
        if self.tls:
            sources += [
                k8s.core.v1.VolumeMountArgs(
                    name=f"tls-{identity}", mount_path=f"{staging.SOURCE}/tls-{identity}", read_only=True
                )
                for identity in ("self", *clients)
            ]
        return staging.init_container(
            self.program.reference,
            self.pod.image_pull_policy.value,
            self.staged_files(config, clients),
            sources,
            run_as_user=self.pod.uid,
            run_as_group=self.pod.gid,
        )

    def volumes(
        self, *, config: Sequence[ConfigFile], own_identity: str, logs, clients=(), extra=()
    ) -> list[k8s.core.v1.VolumeArgs]:
        found = [
            config_files_volume("config", config),
            staging.volume(),
            logs,
            k8s.core.v1.VolumeArgs(
                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")
            ),
            *extra,
        ]
        if self.tls:
            secrets = self.pod.security_secrets or {}
            for volume, identity in (("tls-self", own_identity), *((f"tls-{c}", c) for c in clients)):
                keys = security_tree.secret_keys(identity)
                found.append(staging.secret_volume(volume, secrets[identity], keys=keys))
        return found
