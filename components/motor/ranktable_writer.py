"""`mindie:motor:RanktableWriter`: the controller pod's sidecar that writes the global rank table.

It lists the namespace's pods with its own projected service-account token (a Role: get/list/watch
on pods, this namespace only) and writes global_ranktable.json into the volume the controller reads
(docs/motor.md). The component declares its identity, permission and program; the Controller runs
its container (`sidecar`) in its pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from domain.enums import MotorLogLevel
from domain.rbac import RBAC_API_GROUP

from ..k8s_helpers import container_security_context
from .files import RANKTABLE_DIR, RANKTABLE_FILE, TOKEN_DIR, WRITER_DIR, WRITER_HEALTH_DIR, dump
from .pods import ConfigFile, MotorPod, Resources, config_files_volume, config_map

WRITER_CONTAINER = "ranktable-writer"
WRITER_SCRIPT = (Path(__file__).parent.parent / "scripts" / "ranktable_writer.py").read_text(encoding="utf-8")
"""The sidecar's program (stdlib only), shipped in a ConfigMap; tests import the same file."""
POD_READER_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (("", "pods", ("get", "list", "watch")),)
"""The writer's whole permission: read pods, in the stack's namespace (a Role, never a ClusterRole)."""


def writer_config(
    namespace: str, coordinator_selector: Mapping[str, str], refresh_seconds: int
) -> dict[str, Any]:
    """writer.json: what the rank-table writer sidecar needs besides server_list.json and its token."""
    return {
        "namespace": namespace,
        "coordinator_selector": dict(sorted(coordinator_selector.items())),
        "server_list_path": f"{WRITER_DIR}/server_list.json",
        "output_path": RANKTABLE_FILE,
        "refresh_seconds": refresh_seconds,
        "token_path": f"{TOKEN_DIR}/token",
        "ca_path": f"{TOKEN_DIR}/ca.crt",
        "health_dir": WRITER_HEALTH_DIR,
    }


def writer_probe(name: str, max_age: int, **timing: int) -> k8s.core.v1.ProbeArgs:
    """Fails when the writer's heartbeat file `name` is missing or older than `max_age` seconds
    (exec without a shell: nothing is interpolated)."""
    check = "import os,sys,time; sys.exit(time.time() - os.path.getmtime(sys.argv[1]) > float(sys.argv[2]))"
    return k8s.core.v1.ProbeArgs(
        exec_=k8s.core.v1.ExecActionArgs(
            command=["python3", "-c", check, f"{WRITER_HEALTH_DIR}/{name}", str(max_age)]
        ),
        timeout_seconds=5,
        **timing,
    )


@dataclass(frozen=True)
class Sidecar:
    """What a pod needs to run the writer: its container, its volumes, its identity, its files' texts."""

    container: k8s.core.v1.ContainerArgs
    volumes: list[k8s.core.v1.VolumeArgs]
    service_account: pulumi.Input[str]
    config_texts: list[pulumi.Input[str]]
    """The program and writer.json: part of the pod's checksum/config."""


@dataclass(frozen=True)
class RanktableWriterSpec:
    """The writer's own settings."""

    image: pulumi.Input[str]
    """An image with python3 (the composition: the writer's own, else the controller's)."""
    resources: Resources
    refresh_seconds: int = 30
    """Longest time between two full pod listings."""
    token_expiration_seconds: int = 3600
    """Lifetime of the projected service-account token (the kubelet rotates it)."""


@dataclass(frozen=True)
class RanktableWriterArgs:
    pod: MotorPod
    """The controller pod's common settings (namespace, instance, uid/gid, pull policy, log level)."""
    spec: RanktableWriterSpec
    account: str
    """The controller pod's name: names the ServiceAccount and its pod-reader Role."""
    labels: Mapping[str, str]
    """The controller's labels (the writer is part of its pod)."""
    coordinator_selector: Mapping[str, str]
    """The Coordinator pods' selector: the writer finds the coordinator by it."""
    server_list: ConfigFile
    """server_list.json, the declared servers."""
    child_aliases: Sequence[pulumi.Alias] = ()
    """Aliases of its children (their URNs from before the component existed)."""


class RanktableWriter(pulumi.ComponentResource):
    """`mindie:motor:RanktableWriter`: the writer's ConfigMap, ServiceAccount, Role and RoleBinding."""

    service_account_name: pulumi.Output[str]
    sidecar: Sidecar

    def __init__(self, name: str, args: RanktableWriterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:motor:RanktableWriter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, aliases=list(args.child_aliases))
        writer_json = pulumi.Output.from_input(args.pod.namespace).apply(
            lambda ns: dump(writer_config(ns, args.coordinator_selector, args.spec.refresh_seconds))
        )
        self.config = config_map(
            name,
            args.pod,
            args.labels,
            {"ranktable_writer.py": WRITER_SCRIPT, "writer.json": writer_json},
            child,
        )
        self.files = [
            ConfigFile(self.config.metadata.name, "ranktable_writer.py", WRITER_SCRIPT),
            ConfigFile(self.config.metadata.name, "writer.json", writer_json),
        ]
        self.service_account = self._service_account(args, child)
        self.pod_reader, self.pod_reader_binding = self._pod_reader(args, child)
        self.service_account_name = self.service_account.metadata.name
        self.sidecar = Sidecar(
            container=self._container(args),
            volumes=self._volumes(args),
            service_account=self.service_account_name,
            config_texts=[f.text for f in self.files],
        )
        self.register_outputs(
            {"configMap": self.config.metadata.name, "serviceAccount": self.service_account_name}
        )

    @staticmethod
    def _service_account(
        args: RanktableWriterArgs, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.ServiceAccount:
        # A dedicated identity: the namespace's `default` account stays without any grant.
        return k8s.core.v1.ServiceAccount(
            args.account,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.account, namespace=args.pod.namespace, labels=dict(args.labels)
            ),
            # Nothing mounts its token implicitly; the writer sidecar projects one explicitly.
            automount_service_account_token=False,
            opts=opts,
        )

    def _pod_reader(
        self, args: RanktableWriterArgs, opts: pulumi.ResourceOptions
    ) -> tuple[k8s.rbac.v1.Role, k8s.rbac.v1.RoleBinding]:
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=f"{args.account}-pod-reader", namespace=args.pod.namespace, labels=dict(args.labels)
        )
        role = k8s.rbac.v1.Role(
            f"{args.account}-pod-reader",
            metadata=metadata,
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[group], resources=[resource], verbs=list(verbs))
                for group, resource, verbs in POD_READER_RULES
            ],
            opts=opts,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{args.account}-pod-reader-bind",
            metadata=metadata,
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount",
                    name=self.service_account.metadata.name,
                    namespace=args.pod.namespace,
                )
            ],
            role_ref=k8s.rbac.v1.RoleRefArgs(kind="Role", name=role.metadata.name, api_group=RBAC_API_GROUP),
            opts=opts,
        )
        return role, binding

    @staticmethod
    def _container(args: RanktableWriterArgs) -> k8s.core.v1.ContainerArgs:
        level = args.pod.log_level
        return k8s.core.v1.ContainerArgs(
            name=WRITER_CONTAINER,
            image=args.spec.image,
            image_pull_policy=args.pod.image_pull_policy.value,
            command=["python3", f"{WRITER_DIR}/ranktable_writer.py", f"{WRITER_DIR}/writer.json"],
            env=[
                k8s.core.v1.EnvVarArgs(
                    name=var,
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=path)
                    ),
                )
                for var, path in (("POD_IP", "status.podIP"), ("NODE_IP", "status.hostIP"))
            ]
            + [
                k8s.core.v1.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1"),
                k8s.core.v1.EnvVarArgs(name="PYTHONUNBUFFERED", value="1"),
                # Python's logging names: WARNING for MindIE's WARN.
                k8s.core.v1.EnvVarArgs(
                    name="LOG_LEVEL", value="WARNING" if level == MotorLogLevel.WARN else level.value
                ),
            ],
            resources=args.spec.resources.requirements(),
            # Same UID/GID as the controller (MindIE checks the owner of the files it reads);
            # the writer never needs a writable root, whatever the controller's escape hatch says.
            security_context=container_security_context(
                run_as_user=args.pod.uid, run_as_group=args.pod.gid, read_only_root_filesystem=True
            ),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="ranktable-writer", mount_path=WRITER_DIR, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="ranktable", mount_path=RANKTABLE_DIR),
                k8s.core.v1.VolumeMountArgs(name="kube-api-access", mount_path=TOKEN_DIR, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="ranktable-writer-health", mount_path=WRITER_HEALTH_DIR),
            ],
            # A loop turn takes at most refresh_seconds (+1 s settle); a listing failing for three
            # periods makes the writer unready, a loop stuck for three periods restarts it.
            readiness_probe=writer_probe("ready", 3 * args.spec.refresh_seconds + 10, period_seconds=10),
            liveness_probe=writer_probe(
                "alive",
                3 * args.spec.refresh_seconds + 30,
                initial_delay_seconds=args.spec.refresh_seconds + 30,
                period_seconds=30,
                failure_threshold=3,
            ),
        )

    def _volumes(self, args: RanktableWriterArgs) -> list[k8s.core.v1.VolumeArgs]:
        """Its files (program, writer.json, server list), its heartbeat and its API credentials.

        The pod's `ranktable` volume (the table it writes, the controller reads) is the pod's."""
        return [
            config_files_volume("ranktable-writer", [*self.files, args.server_list]),
            k8s.core.v1.VolumeArgs(
                name="ranktable-writer-health",
                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="1Mi"),
            ),
            # What automountServiceAccountToken would mount, but explicit, bounded in lifetime,
            # and mounted by the writer container only: the controller never sees a token.
            k8s.core.v1.VolumeArgs(
                name="kube-api-access",
                projected=k8s.core.v1.ProjectedVolumeSourceArgs(
                    default_mode=0o440,
                    sources=[
                        k8s.core.v1.VolumeProjectionArgs(
                            service_account_token=k8s.core.v1.ServiceAccountTokenProjectionArgs(
                                path="token", expiration_seconds=args.spec.token_expiration_seconds
                            )
                        ),
                        k8s.core.v1.VolumeProjectionArgs(
                            config_map=k8s.core.v1.ConfigMapProjectionArgs(
                                name="kube-root-ca.crt",
                                items=[k8s.core.v1.KeyToPathArgs(key="ca.crt", path="ca.crt")],
                            )
                        ),
                    ],
                ),
            ),
        ]
