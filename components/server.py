"""MindIE Server instance groups: what `msctl create infer_server` made for mindie_single_node.

One `ServerGroup` per instance group: a ConfigMap (config.json, http_client_ctl.json and run.sh), a
Deployment shaped like the Deployer's (labels, volcano scheduling, NPU requests, probes through
`http_client_ctl`, env), a Service (NodePort when the servers are the entry, ClusterIP when the
Coordinator is) and a PodDisruptionBudget matching max_unavailable.

The file contents are pure functions of the settings (stacks/composition/server_files.py), tested
without Pulumi; the component receives them rendered and hashes them into `checksum/config`.
Deviations from the Deployer are marked "Deployer:" in comments and listed in docs/servers.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from domain.enums import PullPolicy
from domain.hashing import sha256_of_files
from domain.host_paths import ASCEND_DRIVER_PATHS
from domain.kubernetes import NPU_NODE_LABEL, SERVER, accelerator, npu_resource
from domain.mindie_server_paths import (
    CONFIG_DIR,
    CONFIG_JSON,
    HTTP_CLIENT_CTL_JSON,
    HTTP_CLIENT_DIR,
    RUN_SH,
    SECURITY_DIR,
    SERVER_IDENTITIES,
    SERVER_TLS_FILES,
)

from . import staging
from .k8s_helpers import container_security_context, pod_security_context
from .labels import selector_labels, standard_labels

APP_NAME = "mindie-server"
"""app.kubernetes.io/name of every server object; the instance label is the group name."""
CONTAINER = "mindie-server"

TLS_SOURCES = {identity: f"{staging.SOURCE}/{identity}" for identity in SERVER_IDENTITIES}

# Read-only driver paths the Ascend Docker Runtime would otherwise inject (mountDriverFromHost),
# and the volume name of each.
DRIVER_VOLUMES = dict(
    zip(ASCEND_DRIVER_PATHS, ("ascend-driver", "ascend-dcmi", "npu-smi", "ascend-install-info"), strict=True)
)


# ---------------------------------------------------------------- the component's args


@dataclass(frozen=True)
class HostPath:
    """A hostPath volume source: the node directory and its hostPath type ("Directory")."""

    path: str
    type: str


@dataclass(frozen=True)
class Claim:
    """A PersistentVolumeClaim volume source."""

    claim_name: str
    read_only: bool


@dataclass(frozen=True)
class Rollout:
    """The group's rollout plan (stacks.settings.rollout.RolloutPlan) as the component uses it."""

    summary: str
    """Logged in the preview."""
    waves: int
    """Batches of pods replaced at once; the Deployment's timeouts follow them."""
    output: Mapping[str, Any]
    """The plan as registered in the component's outputs (camelCase)."""
    surge_unchecked: bool
    """max_unavailable rounds down to 0 pods and no mindie:npuInventory proves room for a surge pod."""


@dataclass
class ServerGroupArgs:
    """One instance group, mapped from the settings by stacks/composition/servers.py."""

    namespace: pulumi.Input[str]
    """Namespace of every object (the Namespace component's output)."""
    group: str
    """The group's server_name: Deployment name, instance label, object name prefix."""
    files: Mapping[str, str]
    """ConfigMap data: config.json, http_client_ctl.json, run.sh (rendered by the composition)."""
    image: pulumi.Input[str]
    """Image the pods run (MindieImage.image_ref: the derived image's digest, or a configured reference)."""
    image_pull_policy: PullPolicy
    version: Optional[str]
    """app.kubernetes.io/version: the tag of the configured reference (a derived image's is an Output)."""
    mies_install_path: str
    enable_tls: bool
    # Deployment and rollout (infer_server.json)
    replicas: int
    max_surge: str
    max_unavailable: str
    pdb_max_unavailable: int
    """Pods a drain may take down: max_unavailable as the Deployment controller resolves it."""
    termination_grace_period_seconds: int
    init_delay: int
    detect_server_inner_error: bool
    readiness_timeout: int
    readiness_failure_threshold: int
    liveness_timeout: int
    liveness_failure_threshold: int
    # ports and Service
    infer_port: int
    management_port: int
    metrics_port: int
    service_port: Optional[int]
    """NodePort of the infer port when the servers are the entry."""
    # NPU scheduling and resources
    npu_type: str
    """Ascend910 | Ascend310P: the device plugin's resource huawei.com/<npu_type>."""
    npu_chip_num: int
    memory_mi: int
    cpu_millicores: int
    limit_factor: int
    """Limits = requests x this (1: QoS Guaranteed; 2: the Deployer's limits)."""
    volcano: bool
    """Scheduled by volcano (schedulerName, ASCEND_VISIBLE_DEVICES from its annotation)."""
    ring_controller: str
    """MindCluster's `ring-controller.atlas` label of the group's device model."""
    fault_scheduling: Optional[str]
    """MindCluster's `fault-scheduling` label (grace | force), None where no component acts on it."""
    npu_fault_reschedule: bool
    # volumes
    model_mount_path: str
    model_host_path: Optional[HostPath]
    model_claim: Optional[Claim]
    """Exactly one of model_host_path and model_claim."""
    data_mount_path: str
    data_host_path: Optional[HostPath]
    """The writable data's node directory; None: an emptyDir of data_size_limit."""
    data_size_limit: str
    shm_size_limit: str
    shm_size_bytes: int
    mount_driver_from_host: bool
    # pod security (`mindie:runtimeUser`: the derived image's UID)
    uid: int
    gid: int
    supplemental_groups: list[int] = field(default_factory=list)
    read_only_root_filesystem: bool = False
    entry_is_server: bool = True
    """True: NodePort Service on service_port (the seed's 方式一); False: ClusterIP for the Coordinator."""
    tls_secrets: Optional[Mapping[str, pulumi.Input[str]]] = None
    """Secret name per SERVER_IDENTITIES (CA component); required when enable_tls is true."""
    tls_checksum: Optional[pulumi.Input[str]] = None
    """The CA's checksum, put in `checksum/tls` so certificate re-issue rolls the pods."""
    rollout: Optional[Rollout] = None
    """This group's rollout plan, logged in the preview; the Deployment's timeouts follow it."""


def staged_files(enable_tls: bool) -> list[staging.StagedFile]:
    """What the init container copies: the JSON files (0640) and, with TLS, every certificate and key (0400).

    Destinations: `conf/...` is mounted at CONFIG_DIR, `security/...` at <mies_install_path>/security.
    """
    files = [
        staging.StagedFile(f"{staging.SOURCE}/config/config.json", "conf/config.json", staging.CONFIG_MODE),
        staging.StagedFile(
            f"{staging.SOURCE}/config/http_client_ctl.json", "conf/http_client_ctl.json", staging.CONFIG_MODE
        ),
    ]
    if enable_tls:
        files += [
            staging.StagedFile(f"{TLS_SOURCES[identity]}/{key}", dest, staging.SECRET_MODE)
            for identity, key, dest in SERVER_TLS_FILES
        ]
        client = "mindieclient-mgmt"
        files += staging.tls_files(client, TLS_SOURCES[client], HTTP_CLIENT_DIR, crl=False)
    return files


# ---------------------------------------------------------------- pod pieces (pure)


def probe_exports() -> str:
    """What the Deployer's SetProbe prepends to every probe command, pointing at the staged json.

    `xiaobingling93-pixel/Ascend-MindIE-Motor@28a7e9f:mindie_service/management_service/deployer/
    infer_manager/SingleNodeServer.cpp: SetProbe` exports HSECEASY_PATH, LD_LIBRARY_PATH (+ lib) and
    MINDIE_UTILS_HTTP_CLIENT_CTL_CONFIG_FILE_PATH; without the last, http_client_ctl reads
    ../conf/http_client_ctl.json relative to its working directory (main.cpp ParseInitConfig).
    """
    return (
        "export HSECEASY_PATH=$MIES_INSTALL_PATH/lib;"
        "export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$MIES_INSTALL_PATH/lib;"
        f"export MINDIE_UTILS_HTTP_CLIENT_CTL_CONFIG_FILE_PATH={HTTP_CLIENT_CTL_JSON};"
    )


def probe_command(management_port: int, url: str, timeout: int) -> list[str]:
    """The Deployer's probe: <exports> http_client_ctl <podIP> <management_port> <url> <timeout> 0.

    A shell expands $MIES_INSTALL_PATH and the pod IP (exec probes do not expand variables).
    """
    return [
        "/bin/bash",
        "-c",
        f"{probe_exports()} $MIES_INSTALL_PATH/bin/http_client_ctl $MIES_CONTAINER_MANAGEMENT_IP "
        f"{management_port} "
        f"{url} "
        f"{timeout} 0",
    ]


def probes(args: ServerGroupArgs) -> dict[str, k8s.core.v1.ProbeArgs]:
    """startup / readiness / liveness exactly as the Deployer built them."""
    inner = args.detect_server_inner_error
    ready_url = f"/health/timed-{args.readiness_timeout}" if inner else "/v2/health/ready"
    live_url = f"/health/timed-{args.liveness_timeout}" if inner else "/v2/health/live"
    port = args.management_port
    return {
        # 1 s period x init_delay failures = the init_delay seconds the seed grants the server to start.
        "startup": k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=probe_command(port, "/v2/health/live", 1)),
            period_seconds=1,
            timeout_seconds=1,
            failure_threshold=args.init_delay,
        ),
        "readiness": k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=probe_command(port, ready_url, args.readiness_timeout)),
            period_seconds=5,
            timeout_seconds=args.readiness_timeout,
            failure_threshold=args.readiness_failure_threshold,
        ),
        "liveness": k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=probe_command(port, live_url, args.liveness_timeout)),
            period_seconds=3,
            timeout_seconds=args.liveness_timeout,
            failure_threshold=args.liveness_failure_threshold,
        ),
    }


def pre_stop_command(management_port: int, liveness_timeout: int) -> list[str]:
    """Ask the server to stop (the Deployer's /stopService), then wait until it has.

    The Deployer only sent /stopService; returning right away lets the kubelet send
    SIGTERM while requests are still in flight. Waiting on /v2/health/live keeps the
    hook open until the server is done, bounded by terminationGracePeriodSeconds.
    """
    ctl = f"$MIES_INSTALL_PATH/bin/http_client_ctl $MIES_CONTAINER_MANAGEMENT_IP {management_port}"
    return [
        "/bin/bash",
        "-c",
        f"{probe_exports()} {ctl} /stopService {liveness_timeout} 0; "
        f"while {ctl} /v2/health/live 1 0 >/dev/null 2>&1; do sleep 1; done",
    ]


def resources(args: ServerGroupArgs) -> k8s.core.v1.ResourceRequirementsArgs:
    """NPU requests = limits; memory <memory>Mi and cpu <cpu_core>m.

    Deployer: memory and CPU limits twice the requests (QoS Burstable). Default here: limits
    equal to requests (QoS Guaranteed): the scheduler reserves what the server may use, so a
    busy neighbour cannot push the node into memory pressure that OOM-kills an inference
    server mid-request, Guaranteed pods are evicted last, and the kubelet's static CPU
    manager can pin whole cores for them. `limitPolicy: deployer` restores the 2x limits
    (limit_factor 2).
    """
    npu, chips = npu_resource(args.npu_type), str(args.npu_chip_num)
    memory, cpu, factor = args.memory_mi, args.cpu_millicores, args.limit_factor
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={npu: chips, "memory": f"{memory}Mi", "cpu": f"{cpu}m"},
        limits={npu: chips, "memory": f"{memory * factor}Mi", "cpu": f"{cpu * factor}m"},
    )


def env(args: ServerGroupArgs) -> list[k8s.core.v1.EnvVarArgs]:
    """The Deployer's environment; ASCEND_VISIBLE_DEVICES from volcano's allocation annotation."""

    def field(path: str) -> k8s.core.v1.EnvVarSourceArgs:
        return k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=path))

    items = [
        k8s.core.v1.EnvVarArgs(name="HOST_IP", value_from=field("status.hostIP")),
        k8s.core.v1.EnvVarArgs(name="MIES_CONTAINER_IP", value_from=field("status.podIP")),
        k8s.core.v1.EnvVarArgs(name="MIES_CONTAINER_MANAGEMENT_IP", value_from=field("status.podIP")),
        k8s.core.v1.EnvVarArgs(name="MIES_CONFIG_JSON_PATH", value=CONFIG_JSON),
        k8s.core.v1.EnvVarArgs(name="MIES_INSTALL_PATH", value=args.mies_install_path),
        k8s.core.v1.EnvVarArgs(name="MINDIE_USE_HTTPS", value="true" if args.enable_tls else "false"),
    ]
    if args.volcano:
        annotation = npu_resource(args.npu_type)
        items.append(
            k8s.core.v1.EnvVarArgs(
                name="ASCEND_VISIBLE_DEVICES", value_from=field(f"metadata.annotations['{annotation}']")
            )
        )
    return items


def pod_labels(args: ServerGroupArgs) -> dict[str, str]:
    labels = {
        **standard_labels(APP_NAME, args.group, SERVER, args.version),
        "app": args.group,  # the Deployer's label; kept for tools that list pods by it
        "ring-controller.atlas": args.ring_controller,
        "pod-rescheduling": "on",
    }
    if args.fault_scheduling:
        labels["fault-scheduling"] = args.fault_scheduling
    return labels


# ---------------------------------------------------------------- the component


class ServerGroup(pulumi.ComponentResource):
    """`mindie:server:ServerGroup`: one MindIE Server instance group."""

    endpoint: pulumi.Output[dict]
    endpoints: pulumi.Output[list]

    def __init__(self, name: str, args: ServerGroupArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:server:ServerGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        group = args.group
        labels = standard_labels(APP_NAME, group, SERVER, args.version)
        selector = selector_labels(APP_NAME, group)
        files = dict(args.files)

        if args.enable_tls:
            missing = [i for i in SERVER_IDENTITIES if i not in (args.tls_secrets or {})]
            if missing:
                raise ValueError(f"{group}: enable_tls needs tls_secrets for {', '.join(missing)}")
        if args.fault_scheduling is None and args.npu_fault_reschedule:
            pulumi.log.warn(
                f"{group}: npu_fault_reschedule needs scheduler volcano; with the default scheduler "
                "no fault-scheduling label is set and NPU faults are not rescheduled",
                resource=self,
            )
        memory = args.memory_mi
        if args.shm_size_bytes >= memory * 2**20:
            pulumi.log.warn(
                f"{group}: shmSizeLimit {args.shm_size_limit} is not below the pod's memory ({memory}Mi); "
                "/dev/shm is memory and counts against the limit, so filling it gets the server OOM-killed",
                resource=self,
            )
        plan = args.rollout
        if plan is not None:
            pulumi.log.info(plan.summary, resource=self)
            if plan.surge_unchecked:
                pulumi.log.warn(
                    f"{group}: max_unavailable rounds down to 0 pods, so every rollout step needs a free "
                    f"node slot of {args.npu_chip_num} {args.npu_type} chips for a surge pod; declare "
                    "mindie:npuInventory to have that checked",
                    resource=self,
                )

        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{group}-config", namespace=args.namespace, labels=labels
            ),
            data=files,
            opts=child,
        )

        annotations: dict[str, pulumi.Input[str]] = {"checksum/config": sha256_of_files(files)}
        if args.tls_checksum is not None:
            annotations["checksum/tls"] = args.tls_checksum

        unavailable = args.pdb_max_unavailable
        waves = plan.waves if plan is not None else args.replicas
        # A wave can take the old pod's grace period plus the new one's start (init_delay) and readiness.
        per_wave = (
            args.termination_grace_period_seconds
            + args.init_delay
            + 5 * args.readiness_failure_threshold
            + 60
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=group, namespace=args.namespace, labels={**labels, "app": group}
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=args.max_surge, max_unavailable=args.max_unavailable
                    ),
                ),
                # The default 600 s would mark a rollout failed while a pod is still inside init_delay.
                progress_deadline_seconds=max(600, per_wave),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels(args), annotations=annotations),
                    spec=self._pod_spec(args, files),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.config_map],
                custom_timeouts=pulumi.CustomTimeouts(
                    create=f"{waves * per_wave + 300}s", update=f"{waves * per_wave + 300}s"
                ),
            ),
        )

        infer = k8s.core.v1.ServicePortArgs(
            name="infer",
            port=args.infer_port,
            target_port=args.infer_port,
            protocol="TCP",
            node_port=args.service_port if args.entry_is_server else None,
        )
        ports = [infer]
        if not args.entry_is_server:
            # In-cluster only: the Coordinator/Controller read health on the management port.
            # Never on a NodePort: it serves /stopService.
            ports.append(
                k8s.core.v1.ServicePortArgs(
                    name="management",
                    port=args.management_port,
                    target_port=args.management_port,
                    protocol="TCP",
                )
            )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{group}-infer", namespace=args.namespace, labels=labels
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="NodePort" if args.entry_is_server else "ClusterIP",
                selector=selector,
                ports=ports,
            ),
            opts=child,
        )

        # Voluntary disruptions (drains) may take down as many pods as a rollout step does.
        self.pdb = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=group, namespace=args.namespace, labels=labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=unavailable,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=child,
        )
        if unavailable == 0:
            pulumi.log.warn(
                f"{group}: max_unavailable {args.max_unavailable} of {args.replicas} replicas is 0 pods, "
                "so the PodDisruptionBudget blocks node drains until replicas grow or max_unavailable does",
                resource=self,
            )

        facts = {
            "group": group,
            "replicas": args.replicas,
            "selector": selector,
            "infer_port": args.infer_port,
            "management_port": args.management_port,
            "npu_type": args.npu_type,
            "npu_chip_num": args.npu_chip_num,
            "tls": args.enable_tls,
        }
        self.endpoint = pulumi.Output.all(self.deployment.metadata.name, self.service.metadata.name).apply(
            lambda names: {**facts, "deployment": names[0], "service": names[1]}
        )
        self.endpoints = self.endpoint.apply(lambda e: [e])
        self.register_outputs(
            {
                "endpoints": self.endpoints,
                "rollout": plan.output if plan is not None else None,
            }
        )

    def _pod_spec(self, args: ServerGroupArgs, files: dict[str, str]) -> k8s.core.v1.PodSpecArgs:
        image = args.image
        volumes, mounts, source_mounts = _volumes(args, files)
        uid, gid = args.uid, args.gid
        return k8s.core.v1.PodSpecArgs(
            scheduler_name="volcano" if args.volcano else None,
            node_selector={NPU_NODE_LABEL: accelerator(args.npu_type)},
            automount_service_account_token=False,
            # Service links would put <SERVICE>_PORT variables into the server's environment.
            enable_service_links=False,
            termination_grace_period_seconds=args.termination_grace_period_seconds,
            security_context=pod_security_context(
                run_as_user=uid,
                run_as_group=gid,
                fs_group=gid,
                # Only re-own a volume whose root does not match: a model PVC is not walked every start.
                fs_group_change_policy="OnRootMismatch",
                supplemental_groups=args.supplemental_groups or None,
            ),
            # The copy step (components/staging.py): MindIE reads only regular files owned by its uid.
            init_containers=[
                staging.init_container(
                    image,
                    args.image_pull_policy.value,
                    staged_files(args.enable_tls),
                    source_mounts,
                    run_as_user=uid,
                    run_as_group=gid,
                )
            ],
            containers=[
                k8s.core.v1.ContainerArgs(
                    name=CONTAINER,
                    image=image,
                    image_pull_policy=args.image_pull_policy.value,
                    command=["/bin/bash", "-c", RUN_SH],
                    ports=[
                        k8s.core.v1.ContainerPortArgs(
                            name="infer", container_port=args.infer_port, protocol="TCP"
                        ),
                        k8s.core.v1.ContainerPortArgs(
                            name="management", container_port=args.management_port, protocol="TCP"
                        ),
                        k8s.core.v1.ContainerPortArgs(
                            name="metrics", container_port=args.metrics_port, protocol="TCP"
                        ),
                    ],
                    env=env(args),
                    resources=resources(args),
                    startup_probe=probes(args)["startup"],
                    readiness_probe=probes(args)["readiness"],
                    liveness_probe=probes(args)["liveness"],
                    lifecycle=k8s.core.v1.LifecycleArgs(
                        pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                            exec_=k8s.core.v1.ExecActionArgs(
                                command=pre_stop_command(args.management_port, args.liveness_timeout)
                            )
                        )
                    ),
                    security_context=container_security_context(
                        run_as_user=uid,
                        run_as_group=gid,
                        read_only_root_filesystem=args.read_only_root_filesystem,
                    ),
                    volume_mounts=mounts,
                )
            ],
            volumes=volumes,
        )


def _volumes(
    args: ServerGroupArgs, files: dict[str, str]
) -> tuple[
    list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs], list[k8s.core.v1.VolumeMountArgs]
]:
    """Volumes, the server container's mounts, and the init container's source mounts.

    Only run.sh is mounted from the ConfigMap into the server container (bash does not mind a
    bind-mounted file); everything MindIE reads is a staged copy (staged_files): config.json and
    http_client_ctl.json at CONFIG_DIR, the TLS tree at <mies_install_path>/security.
    """
    install = args.mies_install_path
    V, M = k8s.core.v1.VolumeArgs, k8s.core.v1.VolumeMountArgs  # noqa: N806 - short aliases
    volumes = [
        V(
            name="config",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=f"{args.group}-config",
                default_mode=0o440,
                items=[
                    k8s.core.v1.KeyToPathArgs(key=key, path=key, mode=0o550 if key == "run.sh" else 0o440)
                    for key in sorted(files)
                ],
            ),
        ),
        staging.volume(),
    ]
    mounts = [
        M(name="config", mount_path=RUN_SH, sub_path="run.sh", read_only=True),
        staging.mount("conf", CONFIG_DIR),
    ]
    source_mounts = [M(name="config", mount_path=f"{staging.SOURCE}/config", read_only=True)]
    if args.enable_tls:
        mounts.append(staging.mount(SECURITY_DIR, f"{install}/{SECURITY_DIR}"))
        secrets = args.tls_secrets or {}
        for identity in SERVER_IDENTITIES:
            volumes.append(staging.secret_volume(f"tls-{identity}", secrets[identity]))
            source_mounts.append(M(name=f"tls-{identity}", mount_path=TLS_SOURCES[identity], read_only=True))

    if args.model_host_path is not None:
        volumes.append(V(name="model", host_path=_host_path(args.model_host_path)))
    else:
        claim = args.model_claim
        assert claim is not None  # the settings' ModelSource guarantees exactly one source
        volumes.append(
            V(
                name="model",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=claim.claim_name, read_only=claim.read_only
                ),
            )
        )
    mounts.append(M(name="model", mount_path=args.model_mount_path, read_only=True))

    if args.data_host_path is not None:
        volumes.append(V(name="writable-data", host_path=_host_path(args.data_host_path)))
    else:
        volumes.append(
            V(
                name="writable-data",
                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=args.data_size_limit),
            )
        )
    mounts.append(M(name="writable-data", mount_path=args.data_mount_path))

    volumes.append(
        V(
            name="dshm",
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit=args.shm_size_limit),
        )
    )
    mounts.append(M(name="dshm", mount_path="/dev/shm"))
    volumes.append(V(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")))
    mounts.append(M(name="tmp", mount_path="/tmp"))

    if args.mount_driver_from_host:
        for (path, kind), vol_name in DRIVER_VOLUMES.items():
            volumes.append(
                V(name=vol_name, host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=path, type=kind))
            )
            mounts.append(M(name=vol_name, mount_path=path, read_only=True))
    return volumes, mounts, source_mounts


def _host_path(source: HostPath) -> k8s.core.v1.HostPathVolumeSourceArgs:
    return k8s.core.v1.HostPathVolumeSourceArgs(path=source.path, type=source.type)


def all_endpoints(groups: list[ServerGroup]) -> pulumi.Output[list]:
    """The contract's `endpoints` list over every group, in declaration order."""
    return pulumi.Output.all(*[g.endpoint for g in groups]).apply(list)
