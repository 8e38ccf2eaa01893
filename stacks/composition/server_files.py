"""MindIE Server's files from the settings: config.json, http_client_ctl.json, run.sh and the labels'
values, as pure functions (tested without Pulumi). The ServerGroup component receives their results.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Optional

from components import staging
from domain.mindie_server_paths import (
    CA_DIR,
    HTTP_CLIENT_DIR,
    MANAGEMENT_CA_FILE,
    MANAGEMENT_CERT,
    MANAGEMENT_KEY,
    SERVER_CA_FILE,
    SERVER_CERT,
    SERVER_KEY,
)
from stacks.settings.infer_server import InferServer, Scheduler
from stacks.settings.servers import (
    RING_CONTROLLER_BY_MODEL,
    LimitPolicy,
    ModelSource,
    ServersSettings,
    ascend_home,
    device_model,
)


def limit_factor(policy: LimitPolicy) -> int:
    """Container limits over requests: 1 (QoS Guaranteed, the default) or the Deployer's 2 (QoS Burstable).

    Why Guaranteed by default: components/server.py `resources`.
    """
    return 2 if policy is LimitPolicy.DEPLOYER else 1


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


def config_json(
    server: InferServer, servers: ServersSettings, model: ModelSource, prefix_cache: bool
) -> dict:
    """The server's config.json (MindIE LLM "配置参数说明（服务化）"), derived from the settings.

    ipAddress/managementIpAddress are placeholders: the server takes the pod IP from
    MIES_CONTAINER_IP / MIES_CONTAINER_MANAGEMENT_IP, which the Deployment sets.
    TLS paths are relative to <mies_install_path> (MindIE-LLM's home: `CheckPath` refuses a
    file whose realpath is outside it) and name the staged copies
    (domain.mindie_server_paths.SERVER_TLS_FILES).

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
            "tlsCaPath": CA_DIR,
            "tlsCaFile": [SERVER_CA_FILE],
            "tlsCert": SERVER_CERT,
            "tlsPk": SERVER_KEY,
            # No CRL files: the lists are optional and a CRL past nextUpdate would stop every handshake
            # until the next `pulumi up` re-issues it.
            "tlsCrlPath": CA_DIR,
            "tlsCrlFiles": [],
            "managementTlsCaFile": [MANAGEMENT_CA_FILE],
            "managementTlsCert": MANAGEMENT_CERT,
            "managementTlsPk": MANAGEMENT_KEY,
            "managementTlsCrlPath": CA_DIR,
            "managementTlsCrlFiles": [],
            # The metrics port serves the management plane's identity (Controller/Prometheus clients
            # carry management-CA certificates).
            "metricsTlsCaFile": [MANAGEMENT_CA_FILE],
            "metricsTlsCert": MANAGEMENT_CERT,
            "metricsTlsPk": MANAGEMENT_KEY,
            "metricsTlsCrlPath": CA_DIR,
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
        "MindIE-LLM requires "
        "owner uid $(id -u) and mode at most 750 (model_deploy_config.cpp SafePath CheckOwner/CheckMode). "
        "Fix it once on the volume: chown -R $(id -u):$(id -g) $model_dir && "
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


def ring_controller(server: InferServer, servers: ServersSettings) -> str:
    """MindCluster's `ring-controller.atlas` from the group's device model (settings.servers.device_model)."""
    return RING_CONTROLLER_BY_MODEL[device_model(server, servers)]
