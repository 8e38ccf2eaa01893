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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from stacks.settings.fields import quantity_bytes
from stacks.settings.infer_server import InferServer, NpuType, Scheduler
from stacks.settings.rollout import RolloutPlan, kubernetes_fenceposts
from stacks.settings.runtime_user import RuntimeUser
from stacks.settings.servers import (
    MS_ROOT,
    RING_CONTROLLER_BY_MODEL,
    LimitPolicy,
    ModelSource,
    ServersSettings,
    ascend_home,
    device_model,
)

from . import staging
from .k8s_helpers import container_security_context, pod_security_context
from .labels import selector_labels, standard_labels

APP_NAME = "mindie-server"
"""app.kubernetes.io/name of every server object; the instance label is the group name."""
CONTAINER = "mindie-server"
CONFIG_DIR = f"{MS_ROOT}/config"
"""Staged (copied) config.json and http_client_ctl.json, read-only: MIES_CONFIG_JSON_PATH points here."""
RUN_SH = f"{MS_ROOT}/run/run.sh"
HTTP_CLIENT_CTL_JSON = f"{CONFIG_DIR}/http_client_ctl.json"

SERVER_IDENTITIES = ("mindieserver", "mindieserver-mgmt", "mindieclient-mgmt")
"""CA identities a server pod mounts (TLS on): its two server certificates and the probes' client."""
TLS_SOURCES = {identity: f"{staging.SOURCE}/{identity}" for identity in SERVER_IDENTITIES}
SERVER_TLS_FILES: tuple[tuple[str, str, str], ...] = (
    # (identity, Secret key, path under <mies_install_path>) — config.json names exactly these.
    ("mindieserver", "ca.pem", "security/ca/ca.pem"),
    ("mindieserver", "cert.pem", "security/certs/server.pem"),
    ("mindieserver", "cert.key.pem", "security/keys/server.key.pem"),
    ("mindieserver-mgmt", "ca.pem", "security/ca/management_ca.pem"),
    ("mindieserver-mgmt", "cert.pem", "security/certs/management_server.pem"),
    ("mindieserver-mgmt", "cert.key.pem", "security/keys/management_server.key.pem"),
)
HTTP_CLIENT_DIR = "security/http_client"
"""The probes' client identity (mindieclient-mgmt) under <mies_install_path> (the image's default path)."""
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
    TLS paths are relative to <mies_install_path> (MindIE-LLM's home: `CheckPath` refuses a
    file whose realpath is outside it) and name the staged copies (SERVER_TLS_FILES).

    Rules from `Ascend/MindIE-LLM@8b4871a:src/config_manager/server_config.cpp` (each in
    mindiectl/conformance.py): `InitFromJson` reads `distDPServerEnabled` unconditionally;
    with httpsEnabled and a management/metrics port apart from the inference port,
    `CheckManagementHttpsParam`/`CheckMetricsHttpsParam` require managementTls*/metricsTls*
    (CA list of 1-3 files). No tlsPkPwd/kmcKsf* keys: removed with KMC (2ad5b22); the keys are
    unencrypted (http_ssl.cpp LoadPrivateKey has no password callback).
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
            # No CRL files: the lists are optional and a CRL past nextUpdate would stop every handshake
            # until the next `pulumi up` re-issues it.
            "tlsCrlPath": "security/ca/",
            "tlsCrlFiles": [],
            "managementTlsCaFile": ["management_ca.pem"],
            "managementTlsCert": "security/certs/management_server.pem",
            "managementTlsPk": "security/keys/management_server.key.pem",
            "managementTlsCrlPath": "security/ca/",
            "managementTlsCrlFiles": [],
            # The metrics port serves the management plane's identity (Controller/Prometheus clients
            # carry management-CA certificates).
            "metricsTlsCaFile": ["management_ca.pem"],
            "metricsTlsCert": "security/certs/management_server.pem",
            "metricsTlsPk": "security/keys/management_server.key.pem",
            "metricsTlsCrlPath": "security/ca/",
            "metricsTlsCrlFiles": [],
            # Read unconditionally by ServerConfigManager::InitFromJson (8b4871a).
            "distDPServerEnabled": False,
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


def http_client_ctl_json(server: InferServer, servers: ServersSettings) -> dict:
    """http_client_ctl.json for the probes: the management-plane client identity (mindieclient-mgmt).

    `xiaobingling93-pixel/Ascend-MindIE-Motor@28a7e9f:mindie_service/utils/http_client_ctl/main.cpp:
    CheckConfigJsonValid` requires tls_enable and the whole `cert` block even with TLS off;
    MINDIE_USE_HTTPS overrides tls_enable (AssignParams). The management port verifies the client
    against managementTlsCaFile, so the certificate comes from the management CA.
    """
    install = server.mindie_server_config.mies_install_path
    base = f"{install}/{HTTP_CLIENT_DIR}"
    return {
        "tls_enable": server.mindie_server_config.enable_tls,
        "cert": {
            "ca_cert": f"{base}/ca/ca.pem",
            "tls_cert": f"{base}/certs/cert.pem",
            "tls_key": f"{base}/keys/cert.key.pem",
            "tls_passwd": f"{base}/pass/key_pwd.txt",
            "tls_crl": "",
        },
        "log_info": {
            "log_level": servers.engine.log_level,
            "to_file": False,
            "run_log_path": f"{servers.writable_data.mount_path}/logs/http_client_ctl_run_log.txt",
            "operation_log_path": (
                f"{servers.writable_data.mount_path}/logs/http_client_ctl_operation_log.txt"
            ),
        },
    }


def staged_files(server: InferServer) -> list[staging.StagedFile]:
    """What the init container copies: the JSON files (0640) and, with TLS, every certificate and key (0400).

    Destinations: `conf/...` is mounted at CONFIG_DIR, `security/...` at <mies_install_path>/security.
    """
    files = [
        staging.StagedFile(f"{staging.SOURCE}/config/config.json", "conf/config.json", staging.CONFIG_MODE),
        staging.StagedFile(
            f"{staging.SOURCE}/config/http_client_ctl.json", "conf/http_client_ctl.json", staging.CONFIG_MODE
        ),
    ]
    if server.mindie_server_config.enable_tls:
        files += [
            staging.StagedFile(f"{TLS_SOURCES[identity]}/{key}", dest, staging.SECRET_MODE)
            for identity, key, dest in SERVER_TLS_FILES
        ]
        files += staging.tls_files(TLS_SOURCES["mindieclient-mgmt"], HTTP_CLIENT_DIR, crl=False)
    return files


def model_check_lines(server: InferServer, model: ModelSource) -> list[str]:
    """Refuse to start, saying what to run, when the model directory is not the server's.

    `Ascend/MindIE-LLM@8b4871a:src/config_manager/model_deploy_config.cpp` checks modelWeightPath
    with `SafePath(..., PathType::DIR, "r", PERM_750)` (`src/utils/safe_path.cpp: CheckOwner`:
    owner = getuid(); `CheckMode`: no more open than 0750). The weights volume is not written by
    this program, and a recursive chown of a shared model volume from every pod start is not ours
    to do: the check names the directory, the owner found and the command to run.
    """
    path = staging.check_path(model.weight_path, "model weight path")
    q = shlex.quote(path)
    return [
        f"model_dir={q}",
        'if [ ! -d "$model_dir" ]; then echo "run.sh: model directory $model_dir does not exist '
        '(modelWeightPath)" >&2; exit 1; fi',
        'owner=$(stat -c %u "$model_dir"); mode=$(stat -c %a "$model_dir")',
        'if [ "$owner" != "$(id -u)" ] || [ $(( 8#$mode & 8#027 )) -ne 0 ]; then',
        '  echo "run.sh: model directory $model_dir is owned by uid $owner with mode $mode; '
        'MindIE-LLM requires '
        'owner uid $(id -u) and mode at most 750 (model_deploy_config.cpp SafePath CheckOwner/CheckMode). '
        'Fix it once on the volume: chown -R $(id -u):$(id -g) $model_dir && '
        'chmod -R u=rwX,g=rX,o= $model_dir" >&2',
        "  exit 1",
        "fi",
        'echo "run.sh: model directory $model_dir owner uid $owner mode $mode: ok"',
    ]


def run_sh(server: InferServer, servers: ServersSettings, model: Optional[ModelSource] = None) -> str:
    """The seed's single-node start script.

    Differences from the seed, each for a reason: `set -euo pipefail` so a failed step stops
    the pod; `exec` so the daemon is PID 1 and receives SIGTERM; the model directory's owner and
    mode checked first with a clear message (model_check_lines); no certificate generation: the
    seed's gen_cert is a KMC tool that needs the CA private keys in the pod, and MindIE-LLM after
    KMC removal reads unencrypted keys the CA component issues (components/ca.py).
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
        # Paths are validated (stacks.settings.fields.AbsolutePath: no shell metacharacters) AND quoted here.
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
    if model is not None:
        lines += model_check_lines(server, model)
    lines.append("exec ./bin/mindieservice_daemon")
    return "\n".join(lines) + "\n"


def config_files(
    server: InferServer, servers: ServersSettings, model: ModelSource, prefix_cache: bool
) -> dict[str, str]:
    """ConfigMap data: file name -> content."""
    return {
        "config.json": json.dumps(config_json(server, servers, model, prefix_cache), indent=4) + "\n",
        "http_client_ctl.json": json.dumps(http_client_ctl_json(server, servers), indent=4) + "\n",
        "run.sh": run_sh(server, servers, model),
    }


def checksum(files: dict[str, str]) -> str:
    """sha256 over the mounted files (name and content), for the `checksum/config` annotation."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


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


def probe_command(server: InferServer, url: str, timeout: int) -> list[str]:
    """The Deployer's probe: <exports> http_client_ctl <podIP> <management_port> <url> <timeout> 0.

    A shell expands $MIES_INSTALL_PATH and the pod IP (exec probes do not expand variables).
    """
    port = server.mindie_server_config.management_port
    return [
        "/bin/bash",
        "-c",
        f"{probe_exports()} $MIES_INSTALL_PATH/bin/http_client_ctl $MIES_CONTAINER_MANAGEMENT_IP {port} "
        f"{url} "
        f"{timeout} 0",
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
        f"{probe_exports()} {ctl} /stopService {server.liveness_timeout} 0; "
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


def ring_controller(server: InferServer, servers: ServersSettings) -> str:
    """MindCluster's `ring-controller.atlas` from the group's device model (settings.servers.device_model)."""
    return RING_CONTROLLER_BY_MODEL[device_model(server, servers)]


def pod_labels(server: InferServer, version: Optional[str], servers: ServersSettings) -> dict[str, str]:
    labels = {
        **standard_labels(APP_NAME, server.server_name, "server", version),
        "app": server.server_name,  # the Deployer's label; kept for tools that list pods by it
        "ring-controller.atlas": ring_controller(server, servers),
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
    tls_secrets: Optional[Mapping[str, pulumi.Input[str]]] = None
    """Secret name per SERVER_IDENTITIES (CA component); required when enable_tls is true."""
    image: Optional[str] = None
    """This group's image (ServerGroupSpec.image); None: servers.image."""
    tls_checksum: Optional[pulumi.Input[str]] = None
    """The CA's checksum, put in `checksum/tls` so certificate re-issue rolls the pods."""
    rollout: Optional[RolloutPlan] = None
    """This group's rollout plan (settings.rollout), logged in the preview; PDB and timeouts follow it."""
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
        # the version label from the configured reference (a derived image's is an Output)
        version = image_version(args.image if isinstance(args.image, str) else servers.image)
        labels = standard_labels(APP_NAME, group, "server", version)
        selector = selector_labels(APP_NAME, group)
        files = config_files(server, servers, args.model, args.prefix_cache)

        if cfg.enable_tls:
            missing = [i for i in SERVER_IDENTITIES if i not in (args.tls_secrets or {})]
            if missing:
                raise ValueError(f"{group}: enable_tls needs tls_secrets for {', '.join(missing)}")
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
                        labels=pod_labels(server, version, servers), annotations=annotations
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
        image = args.image if args.image is not None else servers.image
        volumes, mounts, source_mounts = _volumes(args, files)
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
            # The copy step (components/staging.py): MindIE reads only regular files owned by its uid.
            init_containers=[
                staging.init_container(
                    image,
                    servers.image_pull_policy.value,
                    staged_files(server),
                    source_mounts,
                    run_as_user=args.runtime_user.uid,
                    run_as_group=args.runtime_user.gid,
                )
            ],
            containers=[
                k8s.core.v1.ContainerArgs(
                    name=CONTAINER,
                    image=image,
                    image_pull_policy=servers.image_pull_policy.value,
                    command=["/bin/bash", "-c", RUN_SH],
                    ports=[
                        k8s.core.v1.ContainerPortArgs(
                            name="infer", container_port=cfg.infer_port, protocol="TCP"
                        ),
                        k8s.core.v1.ContainerPortArgs(
                            name="management", container_port=cfg.management_port, protocol="TCP"
                        ),
                        k8s.core.v1.ContainerPortArgs(
                            name="metrics", container_port=servers.engine.metrics_port, protocol="TCP"
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
) -> tuple[
    list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs], list[k8s.core.v1.VolumeMountArgs]
]:
    """Volumes, the server container's mounts, and the init container's source mounts.

    Only run.sh is mounted from the ConfigMap into the server container (bash does not mind a
    bind-mounted file); everything MindIE reads is a staged copy (staged_files): config.json and
    http_client_ctl.json at CONFIG_DIR, the TLS tree at <mies_install_path>/security.
    """
    server, servers = args.server, args.servers
    cfg = server.mindie_server_config
    install = cfg.mies_install_path
    V, M = k8s.core.v1.VolumeArgs, k8s.core.v1.VolumeMountArgs  # noqa: N806 - short aliases
    volumes = [
        V(
            name="config",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=f"{server.server_name}-config",
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
    if cfg.enable_tls:
        mounts.append(staging.mount("security", f"{install}/security"))
        secrets = args.tls_secrets or {}
        for identity in SERVER_IDENTITIES:
            volumes.append(staging.secret_volume(f"tls-{identity}", secrets[identity]))
            source_mounts.append(M(name=f"tls-{identity}", mount_path=TLS_SOURCES[identity], read_only=True))

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

    if servers.mount_driver_from_host:
        for vol_name, path, kind in DRIVER_HOST_PATHS:
            volumes.append(
                V(name=vol_name, host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=path, type=kind))
            )
            mounts.append(M(name=vol_name, mount_path=path, read_only=True))
    return volumes, mounts, source_mounts


def all_endpoints(groups: list[ServerGroup]) -> pulumi.Output[list]:
    """The contract's `endpoints` list over every group, in declaration order."""
    return pulumi.Output.all(*[g.endpoint for g in groups]).apply(list)
