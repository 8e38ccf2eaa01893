"""MindIE Server instance groups: what `msctl create infer_server` made for mindie_single_node.

One `ServerGroup` per instance group: a ConfigMap (config.json, run.sh and the
certificate-generation inputs), a Deployment shaped like the Deployer's (labels,
volcano scheduling, NPU requests, probes through `http_client_ctl`, env), a
Service (NodePort when the servers are the entry, ClusterIP when the
Coordinator is) and a PodDisruptionBudget matching max_unavailable.

The file contents are pure functions of the settings (`config_json`, `run_sh`,
...), so they are tested without Pulumi and hashed into `checksum/config`.
Deviations from the Deployer are marked "Deployer:" in comments and listed in
docs/servers.md.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from stacks.fields import quantity_bytes
from stacks.infer_server import InferServer, NpuType, Scheduler
from stacks.rollout import RolloutPlan, kubernetes_fenceposts
from stacks.runtime_user import RuntimeUser
from stacks.servers import MS_ROOT, LimitPolicy, ModelSource, ServersSettings, ascend_home

from .k8s_helpers import container_security_context, pod_security_context
from .labels import selector_labels, standard_labels

APP_NAME = "mindie-server"
"""app.kubernetes.io/name of every server object; the instance label is the group name."""
CONTAINER = "mindie-server"
CONFIG_DIR = f"{MS_ROOT}/config"
RUN_SH = f"{MS_ROOT}/run/run.sh"
CERT_WORK_DIR = "/tmp/mindie-cert"

RING_CONTROLLER = {NpuType.ASCEND910: "ascend-910", NpuType.ASCEND310P: "ascend-310P"}
"""MindCluster `ring-controller.atlas` value per NPU type (as the Deployer set it)."""
ACCELERATOR = {NpuType.ASCEND910: "huawei-Ascend910", NpuType.ASCEND310P: "huawei-Ascend310P"}
"""Node label `accelerator` the Ascend device plugin's nodes carry (the Deployer's nodeSelector)."""

# Read-only driver paths the Ascend Docker Runtime would otherwise inject (mountDriverFromHost).
DRIVER_HOST_PATHS = (
    ("ascend-driver", "/usr/local/Ascend/driver", "Directory"),
    ("ascend-dcmi", "/usr/local/dcmi", "Directory"),
    ("npu-smi", "/usr/local/bin/npu-smi", "File"),
    ("ascend-install-info", "/etc/ascend_install.info", "File"),
)


def npu_resource(npu_type: NpuType) -> str:
    """The extended resource the Ascend device plugin advertises."""
    return f"huawei.com/{npu_type.value}"


def fault_scheduling(server: InferServer) -> Optional[str]:
    """MindCluster `fault-scheduling` label: grace | force, only where volcano acts on it.

    The seed: npu_fault_reschedule true = graceful rescheduling (the old pod is deleted
    gracefully), false = non-graceful (the old pod is force-deleted); both need volcano.
    MindCluster's values are grace, force and off. The Deployer set `grace` when true and
    nothing when false, which MindCluster reads as "no fault rescheduling", contrary to the
    seed; this program follows the seed (false -> force). With the default scheduler no
    component acts on the label, so it is left out rather than promising rescheduling.
    """
    if server.scheduler is not Scheduler.VOLCANO:
        return None
    return "grace" if server.npu_fault_reschedule else "force"


# ---------------------------------------------------------------- file contents (pure)


def config_json(
    server: InferServer, servers: ServersSettings, model: ModelSource, prefix_cache: bool
) -> dict:
    """The server's config.json (MindIE LLM "配置参数说明（服务化）"), derived from the settings.

    ipAddress/managementIpAddress are placeholders: the server takes the pod IP from
    MIES_CONTAINER_IP / MIES_CONTAINER_MANAGEMENT_IP, which the Deployment sets.
    TLS file names match what run.sh copies out of gen_cert (the seed's step 5).
    """
    cfg = server.mindie_server_config
    n = server.resource_requests.npu_chip_num
    engine = servers.engine
    model_config: dict[str, Any] = {
        "modelInstanceType": "Standard",
        "modelName": model.model_name,
        "modelWeightPath": model.weight_path,
        "worldSize": n,
        "cpuMemSize": 5,
        "npuMemSize": -1,
        "backendType": "atb",
        "trustRemoteCode": False,
    }
    schedule: dict[str, Any] = {
        "templateType": "Standard",
        "templateName": "Standard_LLM",
        "cacheBlockSize": 128,
        "maxPrefillBatchSize": engine.max_prefill_batch_size,
        "maxPrefillTokens": engine.max_prefill_tokens,
        "prefillTimeMsPerReq": 150,
        "prefillPolicyType": 0,
        "decodeTimeMsPerReq": 50,
        "decodePolicyType": 0,
        "maxBatchSize": engine.max_batch_size,
        "maxIterTimes": 512,
        "maxPreemptCount": 0,
        "supportSelectBatch": False,
        "maxQueueDelayMicroseconds": 5000,
    }
    if prefix_cache:
        # The seed (kubectl step 3): OpenAI multi-turn cache affinity needs both.
        model_config["plugin_params"] = json.dumps({"plugin_type": "prefix_cache"}, separators=(",", ":"))
        schedule["enablePrefixCache"] = True
    return {
        "Version": "1.0.0",
        "LogConfig": {
            "logLevel": engine.log_level,
            "logFileSize": 20,
            "logFileNum": 20,
            "logPath": f"{servers.writable_data.mount_path}/logs/mindie-server.log",
        },
        "ServerConfig": {
            "ipAddress": "127.0.0.1",
            "managementIpAddress": "127.0.0.2",
            "port": cfg.infer_port,
            "managementPort": cfg.management_port,
            "metricsPort": engine.metrics_port,
            "allowAllZeroIpListening": False,
            "maxLinkNum": 1000,
            "httpsEnabled": cfg.enable_tls,
            "fullTextEnabled": False,
            "tlsCaPath": "security/ca/",
            "tlsCaFile": ["ca.pem"],
            "tlsCert": "security/certs/server.pem",
            "tlsPk": "security/keys/server.key.pem",
            "tlsPkPwd": "security/pass/mindie_server_key_pwd.txt",
            "tlsCrlPath": "security/certs/",
            "tlsCrlFiles": [],
            "managementTlsCaFile": ["management_ca.pem"],
            "managementTlsCert": "security/certs/management_server.pem",
            "managementTlsPk": "security/keys/management_server.key.pem",
            "managementTlsPkPwd": "security/pass/management_mindie_server_key_pwd.txt",
            "managementTlsCrlPath": "security/certs/",
            "managementTlsCrlFiles": [],
            "kmcKsfMaster": "tools/pmt/master/ksfa",
            "kmcKsfStandby": "tools/pmt/standby/ksfb",
            "inferMode": "standard",
            # Single-node standard mode has no inter-instance (PD) channel; its certificates are not made.
            "interCommTLSEnabled": False,
            "interCommPort": 1121,
            "openAiSupport": "vllm",
            "tokenTimeout": 600,
            "e2eTimeout": 600,
        },
        "BackendConfig": {
            "backendName": "mindieservice_llm_engine",
            "modelInstanceNumber": 1,
            "npuDeviceIds": [list(range(n))],
            "tokenizerProcessNumber": 8,
            "multiNodesInferEnabled": False,
            "multiNodesInferPort": 1120,
            "interNodeTLSEnabled": False,
            "ModelDeployConfig": {
                "maxSeqLen": engine.max_seq_len,
                "maxInputTokenLen": engine.max_input_token_len,
                "truncation": False,
                "ModelConfig": [model_config],
            },
            "ScheduleConfig": schedule,
        },
    }


def gen_cert_json(management: bool) -> dict:
    """The seed's gen_cert.json / gen_management_cert.json (CA paths relative to mies_install_path)."""
    prefix = "management_ca" if management else "ca"
    return {
        "ca_cert": f"./security/ca/{prefix}.pem",
        "ca_key": f"./security/ca/{prefix}.key.pem",
        "ca_key_pwd": f"./security/ca/{prefix}_passwd.txt",
        "cert_config": f"{CERT_WORK_DIR}/cert_info.json",
        "output_path": "./gen_cert_output",
        "kmc_ksf_master": "./tools/pmt/master/ksfa",
        "kmc_ksf_standby": "./tools/pmt/standby/ksfb",
    }


def cert_info_json(servers: ServersSettings, group: str) -> dict:
    """The seed's cert_config.json; run.sh fills a random serial_number per pod (see run_sh)."""
    subject = servers.cert_subject
    return {
        "subject": group,
        "expired_time": subject.expired_days,
        "serial_number": 0,
        "req_distinguished_name": {
            "C": subject.country,
            "ST": subject.state,
            "L": subject.locality,
            "O": subject.organization,
            "OU": subject.organizational_unit,
            "CN": group,
        },
        "alt_names": {"IP": [], "DNS": []},
    }


def run_sh(server: InferServer, servers: ServersSettings) -> str:
    """The seed's single-node start script, with its certificate generation when TLS is on.

    Differences from the seed, each for a reason: `set -euo pipefail` so a failed step stops
    the pod instead of starting a server without certificates; `exec` so the daemon is PID 1
    and receives SIGTERM; a random certificate serial per pod (RFC 5280 4.1.2.2 wants serials
    unique per CA, the seed's fixed 123 repeats in every pod); the host IP from HOST_IP; the
    seed's `chmod 500 ./bin/gen_cert` only when the file is not executable, and non-fatal (a
    non-root uid that does not own it cannot chmod it; the image provides the mode).
    """
    cfg = server.mindie_server_config
    home = ascend_home(servers, cfg.mies_install_path)
    devices = ",".join(str(i) for i in range(server.resource_requests.npu_chip_num))
    lines = [
        "#!/bin/bash",
        f"# MindIE Server start script of group {server.server_name} (generated by the Pulumi program).",
        "set -euo pipefail",
        "umask 027",
        "export LD_LIBRARY_PATH=/usr/local/Ascend/driver/lib64/common:/usr/local/Ascend/driver/lib64/driver"
        ":${LD_LIBRARY_PATH:-}",
        f"export ASCEND_RT_VISIBLE_DEVICES={devices}",
        "set +u  # the set_env.sh scripts read unset variables",
        # Paths are validated (stacks.fields.AbsolutePath: no shell metacharacters) AND quoted here.
        f"source {shlex.quote(f'{home}/ascend-toolkit/set_env.sh')}",
        f"source {shlex.quote(f'{home}/mindie/set_env.sh')}",
        f"source {shlex.quote(f'{home}/nnal/atb/set_env.sh')}",
        f"source {shlex.quote(f'{home}/atb-models/set_env.sh')}",
        "set -u",
        f"export WORK_DIR={shlex.quote(cfg.mies_install_path)}",
        'export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$WORK_DIR/lib"',
        'export HSECEASY_PATH="$WORK_DIR/lib"',
        'cd "$WORK_DIR"',
    ]
    if cfg.enable_tls:
        lines += [
            "# Server certificates with the pod IP as SAN, made at start (the seed's 配置自动生成证书).",
            f"mkdir -p {CERT_WORK_DIR} ./gen_cert_output",
            "serial=$(( $(od -An -N6 -tu8 /dev/urandom | tr -d ' ') + 1 ))",
            f'sed "s/\\"serial_number\\": 0/\\"serial_number\\": ${{serial}}/" '
            f"{CONFIG_DIR}/cert_info.json > {CERT_WORK_DIR}/cert_info.json",
            # The seed's `chmod 500 ./bin/gen_cert` fails (and, under set -e, kills the pod) when the
            # non-root uid does not own the file or the root filesystem is read-only: the image must
            # ship it executable; try only when it is not, and never stop the script for it.
            'if [ ! -x ./bin/gen_cert ]; then chmod 500 ./bin/gen_cert 2>/dev/null || echo "run.sh: '
            'warning: ./bin/gen_cert is not executable and uid $(id -u) cannot chmod it; build the '
            'image with it executable (mode 500)" >&2; fi',
        ]
        for config, cert, key, pwd in (
            ("gen_cert.json", "server.pem", "server.key.pem", "mindie_server_key_pwd.txt"),
            (
                "gen_management_cert.json",
                "management_server.pem",
                "management_server.key.pem",
                "management_mindie_server_key_pwd.txt",
            ),
        ):
            lines += [
                f"python3 ./scripts/config_mindie_server_tls_cert.py ./ gen_cert {CONFIG_DIR}/{config} "
                '--ip="$MIES_CONTAINER_IP,$HOST_IP"',
                "chmod 400 ./gen_cert_output/*",
                f"cp ./gen_cert_output/cert.pem ./security/certs/{cert}",
                f"cp ./gen_cert_output/cert.key.pem ./security/keys/{key}",
                f"cp ./gen_cert_output/cert_passwd.txt ./security/pass/{pwd}",
                "rm -rf ./gen_cert_output/*",
            ]
    lines.append("exec ./bin/mindieservice_daemon")
    return "\n".join(lines) + "\n"


def config_files(
    server: InferServer, servers: ServersSettings, model: ModelSource, prefix_cache: bool
) -> dict[str, str]:
    """ConfigMap data: file name -> content."""
    files = {
        "config.json": json.dumps(config_json(server, servers, model, prefix_cache), indent=4) + "\n",
        "run.sh": run_sh(server, servers),
    }
    if server.mindie_server_config.enable_tls:
        files["gen_cert.json"] = json.dumps(gen_cert_json(False), indent=4) + "\n"
        files["gen_management_cert.json"] = json.dumps(gen_cert_json(True), indent=4) + "\n"
        files["cert_info.json"] = json.dumps(cert_info_json(servers, server.server_name), indent=4) + "\n"
    return files


def checksum(files: dict[str, str]) -> str:
    """sha256 over the mounted files (name and content), for the `checksum/config` annotation."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


# ---------------------------------------------------------------- pod pieces (pure)


def probe_command(server: InferServer, url: str, timeout: int) -> list[str]:
    """The Deployer's probe: http_client_ctl <podIP> <management_port> <url> <timeout> 0.

    A shell expands $MIES_INSTALL_PATH and the pod IP (exec probes do not expand variables).
    """
    port = server.mindie_server_config.management_port
    return [
        "/bin/bash",
        "-c",
        f"$MIES_INSTALL_PATH/bin/http_client_ctl $MIES_CONTAINER_MANAGEMENT_IP {port} {url} {timeout} 0",
    ]


def probes(server: InferServer) -> dict[str, k8s.core.v1.ProbeArgs]:
    """startup / readiness / liveness exactly as the Deployer built them."""
    inner = server.detect_server_inner_error
    ready_url = f"/health/timed-{server.readiness_timeout}" if inner else "/v2/health/ready"
    live_url = f"/health/timed-{server.liveness_timeout}" if inner else "/v2/health/live"
    return {
        # 1 s period x init_delay failures = the init_delay seconds the seed grants the server to start.
        "startup": k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=probe_command(server, "/v2/health/live", 1)),
            period_seconds=1,
            timeout_seconds=1,
            failure_threshold=server.init_delay,
        ),
        "readiness": k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(
                command=probe_command(server, ready_url, server.readiness_timeout)
            ),
            period_seconds=5,
            timeout_seconds=server.readiness_timeout,
            failure_threshold=server.readiness_failure_threshold,
        ),
        "liveness": k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(
                command=probe_command(server, live_url, server.liveness_timeout)
            ),
            period_seconds=3,
            timeout_seconds=server.liveness_timeout,
            failure_threshold=server.liveness_failure_threshold,
        ),
    }


def pre_stop_command(server: InferServer) -> list[str]:
    """Ask the server to stop (the Deployer's /stopService), then wait until it has.

    The Deployer only sent /stopService; returning right away lets the kubelet send
    SIGTERM while requests are still in flight. Waiting on /v2/health/live keeps the
    hook open until the server is done, bounded by terminationGracePeriodSeconds.
    """
    port = server.mindie_server_config.management_port
    ctl = f"$MIES_INSTALL_PATH/bin/http_client_ctl $MIES_CONTAINER_MANAGEMENT_IP {port}"
    return [
        "/bin/bash",
        "-c",
        f"{ctl} /stopService {server.liveness_timeout} 0; "
        f"while {ctl} /v2/health/live 1 0 >/dev/null 2>&1; do sleep 1; done",
    ]


def resources(server: InferServer, policy: LimitPolicy) -> k8s.core.v1.ResourceRequirementsArgs:
    """NPU requests = limits; memory <memory>Mi and cpu <cpu_core>m.

    Deployer: memory and CPU limits twice the requests (QoS Burstable). Default here: limits
    equal to requests (QoS Guaranteed): the scheduler reserves what the server may use, so a
    busy neighbour cannot push the node into memory pressure that OOM-kills an inference
    server mid-request, Guaranteed pods are evicted last, and the kubelet's static CPU
    manager can pin whole cores for them. `limitPolicy: deployer` restores the 2x limits.
    """
    req = server.resource_requests
    npu = npu_resource(req.npu_type)
    factor = 2 if policy is LimitPolicy.DEPLOYER else 1
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={npu: str(req.npu_chip_num), "memory": f"{req.memory}Mi", "cpu": f"{req.cpu_core}m"},
        limits={
            npu: str(req.npu_chip_num),
            "memory": f"{req.memory * factor}Mi",
            "cpu": f"{req.cpu_core * factor}m",
        },
    )


def env(server: InferServer) -> list[k8s.core.v1.EnvVarArgs]:
    """The Deployer's environment; ASCEND_VISIBLE_DEVICES from volcano's allocation annotation."""

    def field(path: str) -> k8s.core.v1.EnvVarSourceArgs:
        return k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=path))

    cfg = server.mindie_server_config
    items = [
        k8s.core.v1.EnvVarArgs(name="HOST_IP", value_from=field("status.hostIP")),
        k8s.core.v1.EnvVarArgs(name="MIES_CONTAINER_IP", value_from=field("status.podIP")),
        k8s.core.v1.EnvVarArgs(name="MIES_CONTAINER_MANAGEMENT_IP", value_from=field("status.podIP")),
        k8s.core.v1.EnvVarArgs(name="MIES_CONFIG_JSON_PATH", value=f"{CONFIG_DIR}/config.json"),
        k8s.core.v1.EnvVarArgs(name="MIES_INSTALL_PATH", value=cfg.mies_install_path),
        k8s.core.v1.EnvVarArgs(name="MINDIE_USE_HTTPS", value="true" if cfg.enable_tls else "false"),
    ]
    if server.scheduler is Scheduler.VOLCANO:
        annotation = npu_resource(server.resource_requests.npu_type)
        items.append(
            k8s.core.v1.EnvVarArgs(
                name="ASCEND_VISIBLE_DEVICES", value_from=field(f"metadata.annotations['{annotation}']")
            )
        )
    return items


def pod_labels(server: InferServer, version: Optional[str]) -> dict[str, str]:
    labels = {
        **standard_labels(APP_NAME, server.server_name, "server", version),
        "app": server.server_name,  # the Deployer's label; kept for tools that list pods by it
        "ring-controller.atlas": RING_CONTROLLER[server.resource_requests.npu_type],
        "pod-rescheduling": "on",
    }
    strategy = fault_scheduling(server)
    if strategy:
        labels["fault-scheduling"] = strategy
    return labels


def image_version(image: str) -> Optional[str]:
    """The tag of an image reference (for app.kubernetes.io/version), if any."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


# ---------------------------------------------------------------- the component


@dataclass
class ServerGroupArgs:
    namespace: pulumi.Input[str]
    """Namespace of every object (the Namespace component's output)."""
    server: InferServer
    """This group's complete infer_server.json (extra groups: inferServer with their overrides)."""
    servers: ServersSettings
    """`mindie:servers`: image, volumes, security context, config.json knobs."""
    model: ModelSource
    """Where this group's weights come from."""
    entry_is_server: bool = True
    """True: NodePort Service on service_port (the seed's 方式一); False: ClusterIP for the Coordinator."""
    prefix_cache: bool = False
    """Enable prefix cache in config.json (compose: entry=coordinator with the cache_affinity algorithm)."""
    server_ca_secret: Optional[pulumi.Input[str]] = None
    """Secret with the business/management CA for run.sh's gen_cert (CA contract); None: the image's."""
    tls_checksum: Optional[pulumi.Input[str]] = None
    """The CA's checksum, put in `checksum/tls` so certificate re-issue rolls the pods."""
    rollout: Optional[RolloutPlan] = None
    """This group's rollout plan (stacks.rollout), logged in the preview; PDB and timeouts follow it."""
    image: Optional[pulumi.Input[str]] = None
    """Image the pods run (MindieImage.image_ref: the derived image's digest); None: `servers.image`."""
    runtime_user: RuntimeUser = field(default_factory=RuntimeUser)
    """`mindie:runtimeUser`: runAsUser/runAsGroup/fsGroup, the derived image's UID."""


class ServerGroup(pulumi.ComponentResource):
    """`mindie:server:ServerGroup`: one MindIE Server instance group."""

    endpoint: pulumi.Output[dict]
    endpoints: pulumi.Output[list]

    def __init__(self, name: str, args: ServerGroupArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:server:ServerGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        server, servers = args.server, args.servers
        cfg = server.mindie_server_config
        group = server.server_name
        version = image_version(servers.image)
        labels = standard_labels(APP_NAME, group, "server", version)
        selector = selector_labels(APP_NAME, group)
        files = config_files(server, servers, args.model, args.prefix_cache)

        if cfg.enable_tls and args.server_ca_secret is None:
            pulumi.log.warn(
                f"{group}: enable_tls is true but no server CA Secret is wired; run.sh expects the CA "
                "material baked into the image under security/ca, as in the seed",
                resource=self,
            )
        if fault_scheduling(server) is None and server.npu_fault_reschedule:
            pulumi.log.warn(
                f"{group}: npu_fault_reschedule needs scheduler volcano; with the default scheduler "
                "no fault-scheduling label is set and NPU faults are not rescheduled",
                resource=self,
            )
        memory = server.resource_requests.memory
        if quantity_bytes(servers.shm_size_limit) >= memory * 2**20:
            pulumi.log.warn(
                f"{group}: shmSizeLimit {servers.shm_size_limit} is not below the pod's memory ({memory}Mi); "
                "/dev/shm is memory and counts against the limit, so filling it gets the server OOM-killed",
                resource=self,
            )
        plan = args.rollout
        if plan is not None:
            pulumi.log.info(plan.summary(), resource=self)
            if plan.effective_unavailable_pods == 0 and plan.capacity_pods is None:
                pulumi.log.warn(
                    f"{group}: max_unavailable rounds down to 0 pods, so every rollout step needs a free "
                    f"node slot of {plan.chips_per_pod} {plan.npu_type} chips for a surge pod; declare "
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

        annotations: dict[str, pulumi.Input[str]] = {"checksum/config": checksum(files)}
        if args.tls_checksum is not None:
            annotations["checksum/tls"] = args.tls_checksum

        _, unavailable = kubernetes_fenceposts(server.replicas, server.max_surge, server.max_unavailable)
        waves = plan.waves if plan is not None else server.replicas
        # A wave can take the old pod's grace period plus the new one's start (init_delay) and readiness.
        per_wave = (
            server.termination_grace_period_seconds
            + server.init_delay
            + 5 * server.readiness_failure_threshold
            + 60
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=group, namespace=args.namespace, labels={**labels, "app": group}
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=server.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=server.max_surge, max_unavailable=server.max_unavailable
                    ),
                ),
                # The default 600 s would mark a rollout failed while a pod is still inside init_delay.
                progress_deadline_seconds=max(600, per_wave),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=pod_labels(server, version), annotations=annotations
                    ),
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
            port=cfg.infer_port,
            target_port=cfg.infer_port,
            protocol="TCP",
            node_port=server.service_port if args.entry_is_server else None,
        )
        ports = [infer]
        if not args.entry_is_server:
            # In-cluster only: the Coordinator/Controller read health on the management port.
            # Never on a NodePort: it serves /stopService.
            ports.append(
                k8s.core.v1.ServicePortArgs(
                    name="management",
                    port=cfg.management_port,
                    target_port=cfg.management_port,
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
                f"{group}: max_unavailable {server.max_unavailable} of {server.replicas} replicas is 0 pods, "
                "so the PodDisruptionBudget blocks node drains until replicas grow or max_unavailable does",
                resource=self,
            )

        facts = {
            "group": group,
            "replicas": server.replicas,
            "selector": selector,
            "infer_port": cfg.infer_port,
            "management_port": cfg.management_port,
            "npu_type": server.resource_requests.npu_type.value,
            "npu_chip_num": server.resource_requests.npu_chip_num,
            "tls": cfg.enable_tls,
        }
        self.endpoint = pulumi.Output.all(self.deployment.metadata.name, self.service.metadata.name).apply(
            lambda names: {**facts, "deployment": names[0], "service": names[1]}
        )
        self.endpoints = self.endpoint.apply(lambda e: [e])
        self.register_outputs(
            {
                "endpoints": self.endpoints,
                "rollout": plan.as_output() if plan is not None else None,
            }
        )

    def _pod_spec(self, args: ServerGroupArgs, files: dict[str, str]) -> k8s.core.v1.PodSpecArgs:
        server, servers = args.server, args.servers
        cfg = server.mindie_server_config
        sec = servers.security_context
        volumes, mounts = _volumes(args, files)
        return k8s.core.v1.PodSpecArgs(
            scheduler_name="volcano" if server.scheduler is Scheduler.VOLCANO else None,
            node_selector={"accelerator": ACCELERATOR[server.resource_requests.npu_type]},
            automount_service_account_token=False,
            # Service links would put <SERVICE>_PORT variables into the server's environment.
            enable_service_links=False,
            termination_grace_period_seconds=server.termination_grace_period_seconds,
            security_context=pod_security_context(
                run_as_user=args.runtime_user.uid,
                run_as_group=args.runtime_user.gid,
                fs_group=args.runtime_user.gid,
                # Only re-own a volume whose root does not match: a model PVC is not walked every start.
                fs_group_change_policy="OnRootMismatch",
                supplemental_groups=sec.supplemental_groups or None,
            ),
            containers=[
                k8s.core.v1.ContainerArgs(
                    name=CONTAINER,
                    image=args.image if args.image is not None else servers.image,
                    image_pull_policy=servers.image_pull_policy.value,
                    command=["/bin/bash", "-c", RUN_SH],
                    ports=[
                        k8s.core.v1.ContainerPortArgs(
                            name="infer", container_port=cfg.infer_port, protocol="TCP"
                        ),
                        k8s.core.v1.ContainerPortArgs(
                            name="management", container_port=cfg.management_port, protocol="TCP"
                        ),
                    ],
                    env=env(server),
                    resources=resources(server, servers.limit_policy),
                    startup_probe=probes(server)["startup"],
                    readiness_probe=probes(server)["readiness"],
                    liveness_probe=probes(server)["liveness"],
                    lifecycle=k8s.core.v1.LifecycleArgs(
                        pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                            exec_=k8s.core.v1.ExecActionArgs(command=pre_stop_command(server))
                        )
                    ),
                    security_context=container_security_context(
                        run_as_user=args.runtime_user.uid,
                        run_as_group=args.runtime_user.gid,
                        read_only_root_filesystem=sec.read_only_root_filesystem,
                    ),
                    volume_mounts=mounts,
                )
            ],
            volumes=volumes,
        )


def _volumes(
    args: ServerGroupArgs, files: dict[str, str]
) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    """Volumes and mounts of the server container.

    ConfigMap files are mounted one by one with subPath: a plain ConfigMap mount makes each
    file a symlink into `..data/`, and MindIE refuses symlinked configuration (the seed warns
    against soft links). subPath files do not follow ConfigMap updates; `checksum/config` rolls
    the pods instead.
    """
    server, servers = args.server, args.servers
    cfg = server.mindie_server_config
    install = cfg.mies_install_path
    V, M = k8s.core.v1.VolumeArgs, k8s.core.v1.VolumeMountArgs  # noqa: N806 - short aliases
    modes = {"run.sh": 0o550}
    volumes = [
        V(
            name="config",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=f"{server.server_name}-config",
                default_mode=0o440,
                items=[
                    k8s.core.v1.KeyToPathArgs(key=key, path=key, mode=modes.get(key, 0o440))
                    for key in sorted(files)
                ],
            ),
        ),
    ]
    mounts = [
        M(
            name="config",
            mount_path=RUN_SH if key == "run.sh" else f"{CONFIG_DIR}/{key}",
            sub_path=key,
            read_only=True,
        )
        for key in sorted(files)
    ]

    model = args.model
    if model.host_path is not None:
        volumes.append(
            V(
                name="model",
                host_path=k8s.core.v1.HostPathVolumeSourceArgs(
                    path=model.host_path.path, type=model.host_path.type.value
                ),
            )
        )
    else:
        claim = model.persistent_volume_claim
        assert claim is not None  # ModelSource guarantees exactly one source
        volumes.append(
            V(
                name="model",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=claim.claim_name, read_only=claim.read_only
                ),
            )
        )
    mounts.append(M(name="model", mount_path=model.mount_path, read_only=True))

    data = servers.writable_data
    if data.host_path is not None:
        volumes.append(
            V(
                name="writable-data",
                host_path=k8s.core.v1.HostPathVolumeSourceArgs(
                    path=data.host_path.path, type=data.host_path.type.value
                ),
            )
        )
    else:
        volumes.append(
            V(
                name="writable-data",
                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=data.size_limit),
            )
        )
    mounts.append(M(name="writable-data", mount_path=data.mount_path))

    volumes.append(
        V(
            name="dshm",
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                medium="Memory", size_limit=servers.shm_size_limit
            ),
        )
    )
    mounts.append(M(name="dshm", mount_path="/dev/shm"))
    volumes.append(V(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")))
    mounts.append(M(name="tmp", mount_path="/tmp"))

    if cfg.enable_tls:
        # Generated keys live in memory only and die with the pod.
        volumes.append(
            V(name="tls", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="16Mi"))
        )
        for sub in ("certs", "keys", "pass"):
            mounts.append(M(name="tls", mount_path=f"{install}/security/{sub}", sub_path=sub))
        mounts.append(M(name="tls", mount_path=f"{install}/gen_cert_output", sub_path="gen"))
        mounts.append(M(name="tls", mount_path=CERT_WORK_DIR, sub_path="work"))
        if args.server_ca_secret is not None:
            ca_keys = (
                "ca.pem",
                "ca.key.pem",
                "ca_passwd.txt",
                "management_ca.pem",
                "management_ca.key.pem",
                "management_ca_passwd.txt",
            )
            volumes.append(
                V(
                    name="server-ca",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=args.server_ca_secret,
                        default_mode=0o440,
                        items=[k8s.core.v1.KeyToPathArgs(key=k, path=k) for k in ca_keys],
                    ),
                )
            )
            mounts.append(M(name="server-ca", mount_path=f"{install}/security/ca", read_only=True))

    if servers.mount_driver_from_host:
        for vol_name, path, kind in DRIVER_HOST_PATHS:
            volumes.append(
                V(name=vol_name, host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=path, type=kind))
            )
            mounts.append(M(name=vol_name, mount_path=path, read_only=True))
    return volumes, mounts


def all_endpoints(groups: list[ServerGroup]) -> pulumi.Output[list]:
    """The contract's `endpoints` list over every group, in declaration order."""
    return pulumi.Output.all(*[g.endpoint for g in groups]).apply(list)
