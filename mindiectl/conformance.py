"""MindIE's own start-up contract, checked on the generated manifests (`mindiectl check` runs it).

Every rule carries the upstream code that enforces it (`repo@commit:path` + function). The
suite reads only what the cluster would receive — the rendered Kubernetes objects — and follows
each file a MindIE process reads from the path its configuration names, through the container's
mounts and the copy step's script (components/staging.py), back to the ConfigMap or Secret it
came from. So a rule fails when the pod would fail, whatever produced the manifest.

Release line (the lead's decision, docs/mindie-contract.md): MindIE Motor at
xiaobingling93-pixel/Ascend-MindIE-Motor@28a7e9f (KMC removed in 1743473, Deployer still present)
and MindIE-LLM at Ascend/MindIE-LLM@8b4871a (server KMC removed in 2ad5b22).
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from domain.images import image_tag, repository

MOTOR = "xiaobingling93-pixel/Ascend-MindIE-Motor@28a7e9f"
LLM = "Ascend/MindIE-LLM@8b4871a"
MS = "mindie_service/management_service"
UTIL = f"{MOTOR}:mindie_service/utils/http_client_ctl/common/Util.cpp"
COORD = f"{MOTOR}:{MS}/coordinator/configure/Configure.cpp"
CTRL = f"{MOTOR}:{MS}/controller/constant/ControllerConfig.cpp"
DEPLOYER_MAIN = f"{MOTOR}:{MS}/deployer/server/main.cpp"
SINGLE_NODE = f"{MOTOR}:{MS}/deployer/infer_manager/SingleNodeServer.cpp"
CTL_MAIN = f"{MOTOR}:mindie_service/utils/http_client_ctl/main.cpp"
CONFIG_PARAMS = f"{MOTOR}:mindie_service/utils/http_client_ctl/params/ConfigParams.cpp"
SERVER_CFG = f"{LLM}:src/config_manager/server_config.cpp"
BACKEND_CFG = f"{LLM}:src/config_manager/backend_config.cpp"
MODEL_CFG = f"{LLM}:src/config_manager/model_deploy_config.cpp"
SCHEDULE_CFG = f"{LLM}:src/config_manager/schedule_config.cpp"
FILE_UTILS = f"{LLM}:src/utils/log/file_utils.cpp"
HTTP_SSL = f"{LLM}:src/server/endpoint/http_wrapper/http_ssl.cpp"
SAFE_PATH = f"{LLM}:src/utils/safe_path.cpp"

MOTOR_PATH = re.compile(r"(?!.*\.\.)[a-zA-Z0-9_./~-]+")  # Util.cpp PathCheck
COMPONENT = "app.kubernetes.io/component"


@dataclass(frozen=True)
class Violation:
    rule: str
    file: str
    """The object or file where it shows (e.g. `ConfigMap mindie/x: ms_controller.json`)."""
    path: str
    """The key path or file path at fault."""
    message: str
    citation: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message} [{self.rule}; {self.citation}]"


@dataclass(frozen=True)
class Rule:
    id: str
    citation: str
    summary: str
    how: str = ""
    """How this program satisfies it (docs/mindie-contract.md)."""


RULES: dict[str, Rule] = {}


def rule(id_: str, citation: str, summary: str, how: str = "") -> Rule:
    found = Rule(id_, citation, summary, how)
    RULES[id_] = found
    return found


# ------------------------------------------------------------------ JSON key specs

_MISSING = object()


def lookup(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return _MISSING
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                return _MISSING
            node = node[part]
        else:
            return _MISSING
    return node


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _in_range(value: Any, lo: Any, hi: Any) -> bool:
    return lo <= value <= hi


def _check_str(value: Any, args: tuple) -> Optional[str]:
    lo, hi = args or (1, 4096)
    if not isinstance(value, str):
        return f"must be a string, found {type(value).__name__}"
    if not _in_range(len(value), lo, hi):
        return f"length must be {lo}-{hi}, found {len(value)}"
    return None


def _check_int(value: Any, args: tuple) -> Optional[str]:
    lo, hi = args
    if not _is_int(value):
        return f"must be an integer, found {json.dumps(value)}"
    if not _in_range(value, lo, hi):
        return f"must be in [{lo}, {hi}], found {value}"
    return None


def _check_array(value: Any, args: tuple) -> Optional[str]:
    lo, hi = args
    if not isinstance(value, list):
        return "must be an array"
    if not _in_range(len(value), lo, hi):
        return f"must have {lo}-{hi} entries, found {len(value)}"
    return None


def _check_numstr(value: Any, args: tuple) -> Optional[str]:
    lo, hi = args
    if isinstance(value, str) and value.isdigit() and _in_range(int(value), lo, hi):
        return None
    return f"must be a decimal string in [{lo}, {hi}], found {json.dumps(value)}"


def _check_floatstr(value: Any, args: tuple) -> Optional[str]:
    lo, hi = args
    if isinstance(value, str) and re.fullmatch(r"\d[\d]*(\.\d*)?", value) and _in_range(float(value), lo, hi):
        return None
    return f"must be a decimal string in [{lo}, {hi}], found {json.dumps(value)}"


def _check_number(value: Any, args: tuple) -> Optional[str]:
    lo, hi = args
    if not isinstance(value, bool) and isinstance(value, (int, float)) and _in_range(value, lo, hi):
        return None
    return f"must be a number in [{lo}, {hi}], found {json.dumps(value)}"


def _check_enum(value: Any, args: tuple) -> Optional[str]:
    if value in args:
        return None
    return f"must be one of {', '.join(json.dumps(a) for a in args)}, found {json.dumps(value)}"


def _check_ip(value: Any, args: tuple) -> Optional[str]:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return f"must be an IP address, found {json.dumps(value)}"
    if not args and value in ("0.0.0.0", "::"):
        return "all-zero address refused unless allow_all_zero_ip_listening"
    return None


_VALUE_CHECKS: dict[str, Callable[[Any, tuple], Optional[str]]] = {
    "str": _check_str,
    "int": _check_int,
    "bool": lambda v, _: None if isinstance(v, bool) else f"must be true/false, found {json.dumps(v)}",
    "obj": lambda v, _: None if isinstance(v, dict) else "must be an object",
    "array": _check_array,
    "numstr": _check_numstr,
    "floatstr": _check_floatstr,
    "number": _check_number,
    "enum": _check_enum,
    "ip": _check_ip,
}
"""How each key kind of a KeySpec is checked, as MindIE's parsers check it."""


def _check_value(value: Any, kind: str, args: tuple) -> Optional[str]:
    """None when `value` is of `kind` within args; else what is wrong."""
    if value is _MISSING:
        return "missing (read unconditionally)"
    return _VALUE_CHECKS[kind](value, args)


@dataclass(frozen=True)
class KeySpec:
    file: str
    path: str
    kind: str
    args: tuple
    citation: str
    when: Optional[Callable[[Any], bool]] = None

    @property
    def rule_id(self) -> str:
        return f"{self.file}:{self.path}"


SPECS: list[KeySpec] = []


def spec(file: str, citation: str, entries: Iterable[tuple], when=None) -> None:
    for entry in entries:
        path, kind, *args = entry
        s = KeySpec(file, path, kind, tuple(args), citation, when)
        SPECS.append(s)
        rule(
            s.rule_id,
            citation,
            f"{path}: {kind}{list(args) if args else ''}",
            "generated by the component with this key and type",
        )


P = (1024, 65535)
U32 = (0, 2**32 - 1)
TLS_ITEM_KEYS = (("ca_cert", "str"), ("tls_cert", "str"), ("tls_key", "str"), ("tls_passwd", "str"))


def _enabled(pair: str) -> Callable[[Any], bool]:
    return lambda cfg: lookup(cfg, pair) is True


def _tls_specs(file: str, citation: str, base: str, pairs: Iterable[tuple[str, str]], passwd_min: int = 1):
    for enable, items in pairs:
        spec(file, citation, [(f"{base}{enable}", "bool")])
        entries = [(f"{base}{items}", "obj")]
        entries += [
            (f"{base}{items}.{k}", "str", 0 if k == "tls_passwd" and passwd_min == 0 else 1, 4096)
            for k, _ in TLS_ITEM_KEYS
        ]
        entries.append((f"{base}{items}.tls_crl", "str", 0, 4096))
        spec(file, citation, entries, when=_enabled(f"{base}{enable}"))


# --- ms_coordinator.json (Configure.cpp) ---
C = "ms_coordinator.json"
spec(
    C,
    f"{COORD} Configure::ReadHttpConfig",
    [
        ("http_config.predict_port", "numstr", *P),
        ("http_config.manage_port", "numstr", *P),
        ("http_config.alarm_port", "numstr", *P),
        ("http_config.status_port", "numstr", *P),
        ("http_config.external_port", "numstr", *P),
        ("http_config.predict_ip", "ip"),
        ("http_config.manage_ip", "ip"),
        ("http_config.server_thread_num", "int", 1, 10000),
        ("http_config.client_thread_num", "int", 1, 10000),
        ("http_config.http_timeout_seconds", "int", 0, 3600),
        ("http_config.keep_alive_seconds", "int", 0, 3600),
        ("http_config.server_name", "str"),
        ("http_config.user_agent", "str"),
        ("http_config.allow_all_zero_ip_listening", "bool"),
    ],
)
spec(
    C,
    f"{COORD} Configure::ReadMetricsConfig",
    [("metrics_config.enable", "bool"), ("metrics_config.trigger_size", "int", 1, 10000)],
)
spec(
    C,
    f"{COORD} Configure::ReadPrometheusMetricsConfig",
    [("prometheus_metrics_config.reuse_time", "int", 1, 100)],
)
spec(
    C,
    f"{COORD} Configure::ReadExceptionConfig",
    [
        ("exception_config.max_retry", "int", 0, 10),
        ("exception_config.schedule_timeout", "int", 0, 3600),
        ("exception_config.first_token_timeout", "int", 0, 3600),
        ("exception_config.infer_timeout", "int", 0, 65535),
        ("exception_config.tokenizer_timeout", "int", 0, 3600),
    ],
)
spec(
    C,
    f"{COORD} Configure::ReadRequestLimit",
    [
        ("request_limit.single_node_max_requests", "int", 1, 15000),
        ("request_limit.max_requests", "int", 1, 90000),
        ("request_limit.body_limit", "int", 1, 20),
    ],
)
spec(
    C,
    f"{COORD} IsSchedulerConfigValid/CheckSingleNodeValid",
    [
        (
            "digs_scheduler_config.deploy_mode",
            "enum",
            "single_node",
            "pd_separate",
            "pd_disaggregation",
            "pd_disaggregation_single_container",
        ),
        ("digs_scheduler_config.scheduler_type", "str"),
        ("digs_scheduler_config.algorithm_type", "str"),
    ],
)
spec(
    C,
    f"{COORD} IsCacheAffinityParamsInvalid",
    [
        ("digs_scheduler_config.cache_size", "numstr", 1, 10000),
        ("digs_scheduler_config.slots_thresh", "floatstr", 0.0, 1.0),
        ("digs_scheduler_config.block_thresh", "floatstr", 0.0, 1.0),
    ],
    when=lambda cfg: lookup(cfg, "digs_scheduler_config.algorithm_type") == "cache_affinity",
)
spec(C, f"{COORD} Configure::ReadStrTokenRateConfig", [("string_token_rate", "number", 1.0, 100.0)])
spec(
    C,
    f"{COORD} Configure::ReadBackupConfig",
    [("backup_config.function_enable", "bool")],
    when=lambda cfg: "backup_config" in cfg,
)
_tls_specs(
    C,
    f"{COORD} IsJsonTlsInvalid/IsTlsValid",
    "tls_config.",
    [
        ("controller_server_tls_enable", "controller_server_tls_items"),
        ("request_server_tls_enable", "request_server_tls_items"),
        ("mindie_client_tls_enable", "mindie_client_tls_items"),
        ("mindie_mangment_tls_enable", "mindie_mangment_tls_items"),
        ("etcd_server_tls_enable", "etcd_server_tls_items"),
        ("alarm_client_tls_enable", "alarm_client_tls_items"),
        ("external_tls_enable", "external_tls_items"),
        ("status_tls_enable", "status_tls_items"),
    ],
)

# --- ms_controller.json (ControllerConfig.cpp) ---
K = "ms_controller.json"
spec(
    K,
    f"{CTRL} IsConfigJsonValid",
    [
        ("allow_all_zero_ip_listening", "bool"),
        ("is_heterogeneous", "bool"),
        ("tls_config", "obj"),
        ("process_manager.to_file", "bool"),
        ("cluster_status.to_file", "bool"),
        (
            "deploy_mode",
            "enum",
            "pd_separate",
            "pd_disaggregation",
            "pd_disaggregation_single_container",
            "single_node",
        ),
        ("role_decision_methods", "enum", "digs"),
        ("transfer_type", "enum", "D2DTransfer"),
    ],
)
spec(
    K,
    f"{CTRL} ControllerConfig::IsValidDefaultPDRateConfig",
    [("default_p_rate", "int", 0, 767), ("default_d_rate", "int", 0, 767)],
)
spec(
    K,
    f"{CTRL} IsConfigJsonIntValid",
    [
        ("cluster_synchronization_seconds", "int", 1, 65535),
        ("rank_table_detecting_seconds", "int", 1, 65535),
        ("disappeared_server_waiting_seconds", "int", 1, 65535),
        ("mindie_server_control_port", "int", *P),
        ("mindie_server_port", "int", *P),
        ("mindie_server_metric_port", "int", *P),
        ("mindie_ms_coordinator_port", "int", *P),
        ("node_manager_port", "int", *P),
        ("mindie_ms_coordinator_external_port", "int", *P),
        ("controller_alarm_port", "int", *P),
        ("initial_dist_server_port", "int", *P),
        ("http_server.port", "int", *P),
        ("server_online_attempt_times", "int", 1, 65535),
        ("server_online_wait_seconds", "int", 1, 65535),
        ("init_role_attempt_times", "int", 1, 65535),
        ("check_role_attempt_times", "int", 1, 65535),
        ("check_role_wait_seconds", "int", 1, 65535),
        ("http_timeout_seconds", "int", 1, 65535),
        ("http_retries", "int", 0, 65535),
    ],
)
spec(
    K,
    f"{CTRL} IsConfigJsonDigsIntValid",
    [
        ("digs_request_summary_input_length", "int", 1, 65535),
        ("digs_request_summary_output_length", "int", 1, 65535),
        ("digs_prefill_slo", "int", 1, 65535),
        ("digs_decode_slo", "int", 1, 65535),
        ("digs_pp", "int", 1, 65535),
    ],
)
spec(
    K,
    f"{CTRL} ControllerConfig::IsConfigJsonStringValid",
    [
        ("global_rank_table_file_path", "str"),
        ("digs_model_config_path", "str"),
        ("digs_machine_config_path", "str"),
        ("model_type", "str"),
        ("http_server.ip", "ip"),
    ],
)
spec(
    K,
    f"{CTRL} IsProcessManagerValid/IsClusterStatusValid",
    [("process_manager.file_path", "str")],
    when=_enabled("process_manager.to_file"),
)
spec(
    K,
    f"{CTRL} IsProcessManagerValid/IsClusterStatusValid",
    [("cluster_status.file_path", "str")],
    when=_enabled("cluster_status.to_file"),
)
spec(
    K,
    f"{CTRL} ControllerConfig::InitConfig (scaling_rule_file_path read with .at())",
    [("scaling_rule_file_path", "str", 0, 4096)],
)
spec(
    K,
    f"{CTRL} ControllerConfig::IsAutoSwitchingValid",
    [
        ("digs_periodic_role_decision.auto_pd_role_switching_enable", "bool"),
        ("digs_periodic_role_decision.role_decision_time_period", "int", 3600, 3600 * 24 * 15),
        ("digs_periodic_role_decision.tasks_end_wait_seconds", "int", 1, 65535),
    ],
)
_node = [
    ("node_machine_num", "int", 1, 768),
    ("enable_dist_dp_server", "bool"),
    ("tp_size", "int", 1, 16),
    ("dp_size", "int", 1, 512),
    ("sp_size", "int", 1, 16),
]
spec(
    K,
    f"{CTRL} ControllerConfig::IsMultiNodeInferConfigValid/IsNodeConfigJsonIntValid",
    [("multi_node_infer_config.multi_node_infer_enable", "bool")]
    + [
        (f"multi_node_infer_config.{n}.{k}", kind, *a)
        for n in ("p_node_config", "d_node_config")
        for k, kind, *a in _node
    ],
    when=lambda cfg: "multi_node_infer_config" in cfg,
)
_tls_specs(
    K,
    f"{CTRL} IsTlsConfigJsonStringValid/GenerateTlsConfigPairs",
    "tls_config.",
    [
        ("request_coordinator_tls_enable", "request_coordinator_tls_items"),
        ("request_server_tls_enable", "request_server_tls_items"),
        ("http_server_tls_enable", "http_server_tls_items"),
        ("external_coordinator_tls_enable", "external_coordinator_tls_items"),
    ],
)

# --- http_client_ctl.json (http_client_ctl main.cpp) ---
H = "http_client_ctl.json"
spec(
    H,
    f"{CTL_MAIN} CheckConfigJsonValid",
    [
        ("tls_enable", "bool"),
        ("cert", "obj"),
        ("cert.ca_cert", "str"),
        ("cert.tls_cert", "str"),
        ("cert.tls_key", "str"),
        ("cert.tls_passwd", "str"),
        ("cert.tls_crl", "str", 0, 4096),
    ],
)

# --- ms_server.json (Deployer server main.cpp) ---
D = "ms_server.json"
spec(
    D,
    f"{DEPLOYER_MAIN} IsJsonValid",
    [
        ("ip", "str"),
        ("port", "int", *P),
        ("k8s_apiserver_ip", "ip", True),
        ("k8s_apiserver_port", "int", *P),
        ("ms_status_file", "str"),
        ("server_tls_items", "obj"),
        ("server_tls_items.ca_cert", "str"),
        ("server_tls_items.tls_cert", "str"),
        ("server_tls_items.tls_key", "str"),
        ("server_tls_items.tls_passwd", "str", 0, 4096),
        ("server_tls_items.tls_crl", "str", 0, 4096),
    ],
)
_tls_specs(
    D,
    f"{DEPLOYER_MAIN} IsTlsItemsValid",
    "",
    [
        ("client_k8s_tls_enable", "client_k8s_tls_items"),
        ("client_mindie_server_tls_enable", "client_mindie_tls_items"),
    ],
    passwd_min=0,
)

# --- the server's config.json (MindIE-LLM ConfigManager) ---
S = "config.json"


def _https_separate(cfg: Any) -> bool:
    """server_config.cpp LoadOptionalParameters: checkManagement unless all three ports coincide."""
    sc = lookup(cfg, "ServerConfig")
    if not isinstance(sc, dict) or sc.get("httpsEnabled") is not True:
        return False
    return not (sc.get("managementPort", sc.get("port")) == sc.get("port") == sc.get("metricsPort"))


spec(
    S,
    f"{SERVER_CFG} g_serverParamsConstraint/ServerConfigManager::CheckParam",
    [
        ("ServerConfig.ipAddress", "str"),
        ("ServerConfig.port", "int", *P),
        ("ServerConfig.managementPort", "int", *P),
        ("ServerConfig.metricsPort", "int", *P),
        ("ServerConfig.maxLinkNum", "int", 1, 4096),
        ("ServerConfig.httpsEnabled", "bool"),
        ("ServerConfig.inferMode", "str"),
        ("ServerConfig.allowAllZeroIpListening", "bool"),
        ("ServerConfig.tokenTimeout", "int", 1, 3600),
        ("ServerConfig.e2eTimeout", "int", 1, 65535),
    ],
)
spec(
    S,
    f"{SERVER_CFG} ServerConfigManager::InitFromJson (distDPServerEnabled read unconditionally)",
    [("ServerConfig.distDPServerEnabled", "bool")],
)
spec(
    S,
    f"{SERVER_CFG} ServerConfigManager::CheckBusinessHttpsParam",
    [
        ("ServerConfig.tlsCaPath", "str"),
        ("ServerConfig.tlsCaFile", "array", 1, 3),
        ("ServerConfig.tlsCert", "str"),
        ("ServerConfig.tlsPk", "str"),
    ],
    when=lambda cfg: lookup(cfg, "ServerConfig.httpsEnabled") is True,
)
spec(
    S,
    f"{SERVER_CFG} ServerConfigManager::CheckManagementHttpsParam",
    [
        ("ServerConfig.managementTlsCaFile", "array", 1, 3),
        ("ServerConfig.managementTlsCert", "str"),
        ("ServerConfig.managementTlsPk", "str"),
    ],
    when=_https_separate,
)
spec(
    S,
    f"{SERVER_CFG} ServerConfigManager::CheckMetricsHttpsParam",
    [
        ("ServerConfig.metricsTlsCaFile", "array", 1, 3),
        ("ServerConfig.metricsTlsCert", "str"),
        ("ServerConfig.metricsTlsPk", "str"),
    ],
    when=_https_separate,
)
spec(
    S,
    f"{BACKEND_CFG} BackendConfigManager (g_backendParamsConstraint, CheckParam)",
    [
        ("BackendConfig.backendName", "str"),
        ("BackendConfig.tokenizerProcessNumber", "int", 1, 32),
        ("BackendConfig.modelInstanceNumber", "int", 1, 10),
        ("BackendConfig.npuDeviceIds", "array", 1, 10),
        ("BackendConfig.ScheduleConfig", "obj"),
    ],
)
spec(
    S,
    f"{MODEL_CFG} g_modelParentParamsConstraint/g_modelParamsConstraint/CheckParam",
    [
        ("BackendConfig.ModelDeployConfig.maxSeqLen", "int", 1, 2**32 - 1),
        ("BackendConfig.ModelDeployConfig.maxInputTokenLen", "int", 1, 4194304),
        ("BackendConfig.ModelDeployConfig.ModelConfig", "array", 1, 64),
        ("BackendConfig.ModelDeployConfig.ModelConfig.0.cpuMemSize", "int", *U32),
        ("BackendConfig.ModelDeployConfig.ModelConfig.0.modelWeightPath", "str"),
        ("BackendConfig.ModelDeployConfig.ModelConfig.0.modelName", "str"),
        ("BackendConfig.ModelDeployConfig.ModelConfig.0.npuMemSize", "int", -(2**31), 2**31 - 1),
        ("BackendConfig.ModelDeployConfig.ModelConfig.0.worldSize", "int", 1, 2**32 - 1),
        ("BackendConfig.ModelDeployConfig.ModelConfig.0.backendType", "str"),
        ("BackendConfig.ModelDeployConfig.ModelConfig.0.trustRemoteCode", "bool"),
    ],
)
_sc = "BackendConfig.ScheduleConfig."
spec(
    S,
    f"{SCHEDULE_CFG} g_scheduleParamsConstraint/ScheduleConfigManager::CheckParam",
    [
        (f"{_sc}templateName", "str"),
        (f"{_sc}templateType", "enum", "Standard", "Mix"),
        (f"{_sc}cacheBlockSize", "int", 1, 128),
        (f"{_sc}decodePolicyType", "int", *U32),
        (f"{_sc}decodeTimeMsPerReq", "int", 0, 1000),
        (f"{_sc}maxBatchSize", "int", 1, 819200),
        (f"{_sc}maxPreemptCount", "int", *U32),
        (f"{_sc}maxPrefillTokens", "int", 1, 4194304),
        (f"{_sc}maxIterTimes", "int", *U32),
        (f"{_sc}maxPrefillBatchSize", "int", 1, 819200),
        (f"{_sc}maxQueueDelayMicroseconds", "int", 500, 1000000),
        (f"{_sc}prefillPolicyType", "int", *U32),
        (f"{_sc}prefillTimeMsPerReq", "int", 0, 1000),
        (f"{_sc}supportSelectBatch", "bool"),
    ],
)

# ------------------------------------------------------------------ other rules

R_STAGED = rule(
    "file.staged-copy",
    f"{UTIL} PathCheck/CheckPathLengthAndLink/CheckOwner; {FILE_UTILS} "
    "FileUtils::RegularFilePath/IsFileValid (ConstrainOwner, ConstrainPermission)",
    "every file a MindIE process reads is a regular file owned by its uid, mode no more open than "
    "0640 (JSON) / 0400 (Motor keys, certificates, password files)",
    "init container `stage-files` (components/staging.py) copies from ConfigMap/Secret volumes into a "
    "memory emptyDir as the container's uid; JSON paths name the copies",
)
R_PATH = rule(
    "file.path-form",
    f"{UTIL} PathCheck",
    "paths Motor reads match [a-zA-Z0-9_./~-]+ without '..', at most 256 characters",
    "components/staging.py check_path validates every staged path",
)
R_HOME = rule(
    "file.under-home",
    f"{FILE_UTILS} FileUtils::RegularFilePath; {SERVER_CFG} CheckBusinessHttpsParam",
    "the server's TLS files resolve under MindIE-LLM's home (mies_install_path)",
    "the staged security tree is mounted at <mies_install_path>/security",
)
R_PROBE = rule(
    "probe.exports",
    f"{SINGLE_NODE} SetProbe",
    "probe and preStop commands running http_client_ctl export HSECEASY_PATH, LD_LIBRARY_PATH "
    "(+ $MIES_INSTALL_PATH/lib) and MINDIE_UTILS_HTTP_CLIENT_CTL_CONFIG_FILE_PATH",
    "components/server.py probe_exports; Motor sets them in the container env",
)
R_PROBE_CFG = rule(
    "probe.client-config",
    f"{CTL_MAIN} ParseInitConfig/CheckConfigJsonValid",
    "a pod whose probes run http_client_ctl has its http_client_ctl.json (and, with TLS, "
    "a client identity) staged",
    "each MindIE pod stages http_client_ctl.json and its client",
)
R_TLS_CLIENT = rule(
    "tls.client-verifies",
    f"{HTTP_SSL} HttpSsl::LoadCaCert (SSL_VERIFY_FAIL_IF_NO_PEER_CERT); "
    f"{MOTOR}:{MS}/common/http_server/HttpServer.cpp (verify_fail_if_no_peer_cert)",
    "each client certificate verifies (openssl verify -x509_strict, sslclient) against the CA "
    "file(s) the server side names",
    "components/ca.py: one client identity per plane",
)
R_TLS_SERVER = rule(
    "tls.server-verifies",
    f"{MOTOR}:mindie_service/utils/http_client_ctl/http_client/HttpClient.cpp "
    "(verify_peer); coordinator/common/http_client/HttpClientAsync.cpp",
    "each server certificate verifies (openssl verify -x509_strict, sslserver) against the CA the "
    "client names",
    "components/ca.py: ca.pem of a client = the CA of the server it calls",
)
R_PLAIN_KEY = rule(
    "tls.server-key-unencrypted",
    f"{HTTP_SSL} HttpSsl::LoadPrivateKey (no password callback)",
    "the server's tlsPk/managementTlsPk/metricsTlsPk are unencrypted PEM (no tlsPkPwd at 8b4871a)",
    "domain/security_tree.py PLAIN_KEY_IDENTITIES",
)
R_PASSWD = rule(
    "tls.motor-passwd",
    f"{CONFIG_PARAMS} DecryptPassword",
    "a Motor key file decrypts with the plain-text password file its tls_passwd names",
    "domain/security_tree.py: key_pwd.txt beside each encrypted key",
)
R_NO_KMC = rule(
    "kmc.absent",
    f"{LLM} 2ad5b22 (server KMC removed); {MOTOR} 1743473 (KMC removed)",
    "no kmcKsfMaster/kmcKsfStandby/tlsPkPwd keys: the KMC-free release reads none",
    "removed from every generated JSON",
)
R_TLS_SWITCH = rule(
    "deployer.tls-consistency",
    f"{SINGLE_NODE} ParseMindIEConfigParams",
    "ms_server.json client_mindie_server_tls_enable equals the servers' httpsEnabled",
    "stacks/settings/stack.py _deployer_contract",
)
R_NAMESPACE = rule(
    "deployer.namespace",
    f'{SINGLE_NODE} SingleNodeServer (serviceParams.nameSpace = "mindie")',
    "with ms-server deployed, the server objects live in namespace mindie",
    "stacks/settings/stack.py _deployer_contract",
)
R_RING = rule(
    "hardware.ring-controller",
    f"{MOTOR}:{MS}/deployer/infer_manager/CrossNodeServer.cpp (ascend-910b); {SINGLE_NODE} CreateDeployJson",
    "ring-controller.atlas matches the NPU resource the pod requests",
    "stacks/settings/servers.py RING_CONTROLLER_BY_MODEL from mindie:servers.deviceModels",
)
R_VARIANT = rule(
    "hardware.image-variant",
    "MindIE image tags (800I-A2 for 910B, 300I-Duo for 310P)",
    "a 310P pod does not run an 800I-A2 image, a 910 pod not a 300I-Duo image",
    "stacks/settings/servers.py hardware_problems; ExtraGroup.image",
)
R_REPO = rule(
    "image.one-repository",
    "one MindIE image carries Server and Motor (the seed)",
    "servers, Coordinator and Controller pull from one repository path",
    "stacks/settings/servers.py hardware_problems",
)
R_GROUPS = rule(
    "npu.device-group",
    "Ascend driver: /dev/davinci* owned by HwHiAiUser (the seed's 容器内用户)",
    "pods requesting NPUs carry a supplementalGroups entry (the HwHiAiUser group)",
    "mindie:servers.securityContext.supplementalGroups in every stack",
)
R_DEVICES = rule(
    "npu.device-ids",
    f"{BACKEND_CFG} CheckParam (count = worldSize, unique, >= 0); this program: "
    "< chips per node of the device model",
    "npuDeviceIds are unique, non-negative, worldSize per instance and below the chips of one node",
    "config_json npuDeviceIds = range(npu_chip_num)",
)
R_MODEL = rule(
    "model.ownership-check",
    f"{MODEL_CFG} SafePath(modelWeightPath, DIR, PERM_750); {SAFE_PATH} SafePath::CheckOwner",
    "run.sh checks the model directory's owner/mode before starting and says what to run",
    "stacks/composition/server_files.py model_check_lines",
)
R_METRICS = rule(
    "metrics.network-policy",
    f"{SERVER_CFG} metricsPort",
    "no ingress rule opens the servers' metrics port to every source",
    "components/network.py: peers + mindie:servers.metricsSources",
)

KMC_KEYS = ("kmcKsfMaster", "kmcKsfStandby", "tlsPkPwd", "managementTlsPkPwd", "metricsTlsPkPwd")


# ------------------------------------------------------------------ manifests


def manifests_of(result) -> list[dict[str, Any]]:
    """The Kubernetes objects of a run, as the provider receives them (secret values in memory only)."""
    from .render import integral, is_manifest

    return [integral(copy.deepcopy(r.inputs)) for r in result.resources if is_manifest(r)]


def _name(m: dict) -> str:
    meta = m.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{m.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


@dataclass
class Ctx:
    manifests: list[dict[str, Any]]
    violations: list[Violation] = field(default_factory=list)

    def of(self, kind: str) -> list[dict]:
        return [m for m in self.manifests if m.get("kind") == kind]

    def configmap(self, name: str) -> dict[str, str]:
        for m in self.of("ConfigMap"):
            if (m.get("metadata") or {}).get("name") == name:
                return m.get("data") or {}
        return {}

    def secret(self, name: str) -> dict[str, str]:
        for m in self.of("Secret"):
            if (m.get("metadata") or {}).get("name") == name:
                return m.get("stringData") or m.get("data") or {}
        return {}

    def fail(self, r: Rule, where: str, path: str, message: str) -> None:
        self.violations.append(Violation(r.id, where, path, message, r.citation))


# ------------------------------------------------------------------ pods: mounts, staging, sources


@dataclass
class Pod:
    ctx: Ctx
    owner: str
    spec: dict
    labels: dict
    _installs: Optional[dict] = None

    @property
    def component(self) -> str:
        return self.labels.get(COMPONENT, "")

    def volume(self, name: str) -> dict:
        for v in self.spec.get("volumes") or []:
            if v.get("name") == name:
                return v
        return {}

    def uid(self, container: dict) -> Optional[int]:
        sc = container.get("securityContext") or {}
        return sc.get("runAsUser", (self.spec.get("securityContext") or {}).get("runAsUser"))

    @staticmethod
    def mount_of(container: dict, path: str) -> Optional[tuple[dict, str]]:
        """(mount, path inside the volume) of the longest mount covering `path`."""
        best = None
        for m in container.get("volumeMounts") or []:
            mp = m["mountPath"].rstrip("/")
            if path == mp or path.startswith(mp + "/"):
                if best is None or len(mp) > len(best[0]["mountPath"].rstrip("/")):
                    rest = path[len(mp) :].lstrip("/")
                    sub = (m.get("subPath") or "").strip("/")
                    best = (m, "/".join(p for p in (sub, rest) if p))
        return best

    def installs(self) -> dict[tuple[str, str], tuple[int, str, dict]]:
        """(volume, path in volume) -> (mode, source path, init container) over every staging script."""
        if self._installs is not None:
            return self._installs
        found = {}
        for init in self.spec.get("initContainers") or []:
            text = (init.get("command") or [""])[-1]
            for line in text.splitlines():
                try:
                    words = shlex.split(line)
                except ValueError:
                    continue
                staged = _install_words(words)
                if staged:
                    mode, source, dest = staged
                    where = self.mount_of(init, dest)
                    if where:
                        found[(where[0]["name"], where[1])] = (mode, source, init)
        self._installs = found
        return found

    def source_text(self, init: dict, path: str) -> Optional[str]:
        """The content behind `path` in `init` (a ConfigMap, projected ConfigMap or Secret key)."""
        where = self.mount_of(init, path)
        if not where:
            return None
        vol = self.volume(where[0]["name"])
        key_path = where[1]
        if "configMap" in vol:
            return self._from_items(self.ctx.configmap(vol["configMap"]["name"]), vol["configMap"], key_path)
        if "secret" in vol:
            return self._from_items(self.ctx.secret(vol["secret"]["secretName"]), vol["secret"], key_path)
        for src in (vol.get("projected") or {}).get("sources") or []:
            if "configMap" in src:
                text = self._from_items(
                    self.ctx.configmap(src["configMap"]["name"]), src["configMap"], key_path
                )
                if text is not None:
                    return text
        return None

    @staticmethod
    def _from_items(data: dict, source: dict, key_path: str) -> Optional[str]:
        items = source.get("items")
        if not items:
            return data.get(key_path)
        for item in items:
            if item.get("path") == key_path:
                return data.get(item["key"])
        return None

    def read(
        self, container: dict, path: str, limit: int, what: str, motor_path: bool = True
    ) -> Optional[str]:
        """Check that MindIE can read `path` in `container`; return its content when traceable."""
        where_label = f"{self.owner} container {container['name']}"
        if motor_path and (not MOTOR_PATH.fullmatch(path) or len(path) > 256):
            self.ctx.fail(R_PATH, where_label, path, f"{what}: not a path Motor's PathCheck accepts")
        where = self.mount_of(container, path)
        if where is None:
            self.ctx.fail(
                R_STAGED, where_label, path, f"{what}: not on any volume (the image's file is root-owned)"
            )
            return None
        mount, inner = where
        vol = self.volume(mount["name"])
        if "hostPath" in vol:
            return None  # the seed's imported tree on the node: owned as the operator made it
        if "emptyDir" not in vol:
            kind = next(
                (k for k in ("configMap", "secret", "projected", "persistentVolumeClaim") if k in vol), "?"
            )
            self.ctx.fail(
                R_STAGED,
                where_label,
                path,
                f"{what}: read straight from a {kind} volume ({mount['name']}): symlink into ..data/ "
                "owned by root, refused by MindIE's owner/link checks; copy it in the init container",
            )
            return None
        staged = self.installs().get((mount["name"], inner))
        if staged is None:
            self.ctx.fail(
                R_STAGED, where_label, path, f"{what}: no init container installs it into {mount['name']}"
            )
            return None
        mode, source, init = staged
        if mode & ~limit:
            self.ctx.fail(
                R_STAGED,
                where_label,
                path,
                f"{what}: staged with mode {mode:04o}, MindIE allows at most {limit:04o}",
            )
        if self.uid(init) is None or self.uid(init) != self.uid(container):
            self.ctx.fail(
                R_STAGED,
                where_label,
                path,
                f"{what}: copied as uid {self.uid(init)} but read as uid "
                f"{self.uid(container)}: MindIE requires owner = its uid",
            )
        return self.source_text(init, source)


def _install_words(words: list[str]) -> Optional[tuple[int, str, str]]:
    """(mode, source, destination) of `install [-D] -m MODE SRC DST`; None for any other line."""
    if not words or words[0] != "install" or "-m" not in words:
        return None
    i = words.index("-m")
    rest = [w for w in words[1:] if w not in ("-D", "-m") and w != words[i + 1] if i + 1 < len(words)]
    if i + 1 >= len(words) or not re.fullmatch(r"0?[0-7]{3}", words[i + 1]) or len(rest) != 2:
        return None
    return int(words[i + 1], 8), rest[0], rest[1]


def pods(ctx: Ctx) -> Iterator[Pod]:
    for m in ctx.of("Deployment"):
        template = (m.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        yield Pod(ctx, _name(m), template.get("spec") or {}, labels)


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or [] if "value" in e}


def _exports(command: str) -> dict[str, str]:
    return dict(re.findall(r"export\s+([A-Z_]+)=([^;&\s]*)", command))


# ------------------------------------------------------------------ per-file checks


def check_json(ctx: Ctx, file: str, data: Any, where: str) -> None:
    for s in SPECS:
        if s.file != file or (s.when is not None and not s.when(data)):
            continue
        problem = _check_value(lookup(data, s.path), s.kind, s.args)
        if problem:
            ctx.fail(RULES[s.rule_id], where, s.path, problem)
    found_kmc = sorted(_find_keys(data, KMC_KEYS))
    for path in found_kmc:
        ctx.fail(R_NO_KMC, where, path, "a KMC key: the KMC-free release has no key store")


def _find_keys(data: Any, keys: tuple[str, ...], prefix: str = "") -> Iterator[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            path = f"{prefix}{k}"
            if k in keys:
                yield path
            yield from _find_keys(v, keys, path + ".")


def _json(text: Optional[str]) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass
class Endpoint:
    """One TLS listener: the CA text it verifies clients with and its certificate chain."""

    name: str
    ca: Optional[str]
    cert: Optional[str]


@dataclass
class Client:
    name: str
    ca: Optional[str]
    cert: Optional[str]
    targets: list[str]


def _tls_item_files(
    pod: Pod, c: dict, items: dict, what: str, limit: int = 0o400
) -> dict[str, Optional[str]]:
    got = {}
    for key in ("ca_cert", "tls_cert", "tls_key", "tls_passwd"):
        if items.get(key):
            got[key] = pod.read(c, items[key], limit, f"{what}.{key}")
    if items.get("tls_crl"):
        got["tls_crl"] = pod.read(c, items["tls_crl"], limit, f"{what}.tls_crl")
    _check_passwd(pod.ctx, f"{pod.owner} container {c['name']}", what, got)
    return got


_KEY_CHECKS: dict[tuple[str, str], Optional[str]] = {}
"""(key, password) -> load error: PBKDF2 is slow on purpose, so each pair is tried once per process."""


def _check_passwd(ctx: Ctx, where: str, what: str, got: dict) -> None:
    key, pwd = got.get("tls_key"), got.get("tls_passwd")
    if not key or pwd is None:
        return
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    password = pwd[:-1] if pwd.endswith("\n") else pwd  # DecryptPassword drops one trailing newline
    if (key, password) not in _KEY_CHECKS:
        try:
            load_pem_private_key(key.encode(), password.encode() if "ENCRYPTED" in key else None)
            _KEY_CHECKS[(key, password)] = None
        except (ValueError, TypeError) as err:
            _KEY_CHECKS[(key, password)] = str(err)
    err = _KEY_CHECKS[(key, password)]
    if err is not None:
        ctx.fail(
            R_PASSWD, where, f"{what}.tls_key", f"the key does not load with its tls_passwd file ({err})"
        )


def check_pod(pod: Pod, endpoints: dict[str, Endpoint], clients: list[Client]) -> None:
    comp = pod.component
    containers = pod.spec.get("containers") or []
    if comp not in ("server", "coordinator", "controller", "ms-server") or not containers:
        return
    main = containers[0]
    env = env_of(main)
    ctx = pod.ctx
    label = f"{pod.owner} container {main['name']}"
    if comp == "server":
        _check_server(pod, main, env, endpoints, clients)
    elif comp in ("coordinator", "controller"):
        var = (
            "MINDIE_MS_COORDINATOR_CONFIG_FILE_PATH"
            if comp == "coordinator"
            else "MINDIE_MS_CONTROLLER_CONFIG_FILE_PATH"
        )
        file = "ms_coordinator.json" if comp == "coordinator" else "ms_controller.json"
        if var not in env:
            ctx.fail(R_STAGED, label, var, f"{file}: the container does not say where it is")
        else:
            data = _json(pod.read(main, env[var], 0o640, file))
            if data is not None:
                check_json(ctx, file, data, f"{label}: {env[var]}")
                _motor_tls(pod, main, comp, data, endpoints, clients)
    else:  # ms-server
        work = main.get("workingDir", "")
        args = main.get("command") or []
        cfg_path = os.path.normpath(os.path.join(work, args[-1])) if args else ""
        data = _json(pod.read(main, cfg_path, 0o640, "ms_server.json"))
        if data is not None:
            check_json(ctx, "ms_server.json", data, f"{label}: {cfg_path}")
            _deployer_tls(pod, main, data, endpoints, clients)
    _check_probes(pod, main, env, clients)


def _check_server(
    pod: Pod, main: dict, env: dict, endpoints: dict[str, Endpoint], clients: list[Client]
) -> None:
    ctx = pod.ctx
    label = f"{pod.owner} container {main['name']}"
    path = env.get("MIES_CONFIG_JSON_PATH")
    home = env.get("MIES_INSTALL_PATH", "").rstrip("/")
    if not path:
        ctx.fail(R_STAGED, label, "MIES_CONFIG_JSON_PATH", "config.json: not set")
        return
    data = _json(pod.read(main, path, 0o640, "config.json", motor_path=False))
    if data is None:
        return
    check_json(ctx, "config.json", data, f"{label}: {path}")
    sc = data.get("ServerConfig") or {}
    _check_devices(pod, data, label)
    _check_model_check(pod, main, data, label)
    if sc.get("httpsEnabled") is not True:
        return
    group = pod.labels.get("app.kubernetes.io/instance", pod.owner)

    def tls_file(rel: str, what: str) -> Optional[str]:
        full = f"{home}/{rel}"
        if not os.path.normpath(full).startswith(home + "/"):
            ctx.fail(R_HOME, label, what, f"{rel} resolves outside {home}")
        return pod.read(main, full, 0o640, what, motor_path=False)

    ca_dir = sc.get("tlsCaPath", "")
    planes = {
        "infer": ("tlsCaFile", "tlsCert", "tlsPk", sc.get("port")),
        "management": (
            "managementTlsCaFile",
            "managementTlsCert",
            "managementTlsPk",
            sc.get("managementPort"),
        ),
        "metrics": ("metricsTlsCaFile", "metricsTlsCert", "metricsTlsPk", sc.get("metricsPort")),
    }
    for plane, (ca_key, cert_key, pk_key, _port) in planes.items():
        if plane != "infer" and not _https_separate(data):
            continue
        cas = [tls_file(f"{ca_dir}{f}", f"ServerConfig.{ca_key}") for f in sc.get(ca_key) or []]
        cert = tls_file(sc[cert_key], f"ServerConfig.{cert_key}") if sc.get(cert_key) else None
        key = tls_file(sc[pk_key], f"ServerConfig.{pk_key}") if sc.get(pk_key) else None
        if key and "ENCRYPTED" in key:
            ctx.fail(
                R_PLAIN_KEY,
                label,
                f"ServerConfig.{pk_key}",
                "the key is encrypted; MindIE-LLM loads it without a password at 8b4871a",
            )
        endpoints[f"server/{group}/{plane}"] = Endpoint(
            f"{group} {plane} port", "".join(c for c in cas if c) or None, cert
        )


def _check_devices(pod: Pod, data: dict, label: str) -> None:
    ids = lookup(data, "BackendConfig.npuDeviceIds")
    world = lookup(data, "BackendConfig.ModelDeployConfig.ModelConfig.0.worldSize")
    chips = {"ascend-910b": 8, "ascend-910": 8, "ascend-310P": 16}.get(
        pod.labels.get("ring-controller.atlas", ""), 8
    )
    if not isinstance(ids, list):
        return
    for i, group in enumerate(ids):
        if not isinstance(group, list) or not all(_is_int(x) for x in group):
            pod.ctx.fail(R_DEVICES, label, f"BackendConfig.npuDeviceIds.{i}", "must be a list of integers")
            continue
        if len(set(group)) != len(group) or any(x < 0 for x in group) or len(group) != world:
            pod.ctx.fail(
                R_DEVICES,
                label,
                f"BackendConfig.npuDeviceIds.{i}",
                f"must be {world} unique non-negative ids (worldSize), found {group}",
            )
        if any(x >= chips for x in group):
            pod.ctx.fail(
                R_DEVICES,
                label,
                f"BackendConfig.npuDeviceIds.{i}",
                f"ids must be below {chips}, the chips of one {pod.labels.get('ring-controller.atlas')} node",
            )


def _check_model_check(pod: Pod, main: dict, data: dict, label: str) -> None:
    weights = lookup(data, "BackendConfig.ModelDeployConfig.ModelConfig.0.modelWeightPath")
    script_path = next((a for a in (main.get("command") or []) if a.endswith(".sh")), None)
    text = None
    if script_path:
        where = pod.mount_of(main, script_path)
        if where:
            vol = pod.volume(where[0]["name"])
            if "configMap" in vol:
                text = pod._from_items(
                    pod.ctx.configmap(vol["configMap"]["name"]), vol["configMap"], where[1]
                )
    ok = (
        text is not None
        and isinstance(weights, str)
        and shlex.quote(weights) in text
        and 'stat -c %u "$model_dir"' in text
        and "exit 1" in text
    )
    if not ok:
        pod.ctx.fail(
            R_MODEL,
            label,
            "modelWeightPath",
            "the start script does not check the model directory's owner and mode before starting the server",
        )


# (enable flag, items key, endpoint, endpoint label) of each Motor role's TLS server ports
_MOTOR_TLS_ENDPOINTS = {
    "coordinator": (
        (
            "controller_server_tls_enable",
            "controller_server_tls_items",
            "coordinator/manage",
            "coordinator manage port",
        ),
        ("status_tls_enable", "status_tls_items", "coordinator/status", "coordinator status port"),
        ("external_tls_enable", "external_tls_items", "coordinator/external", "coordinator external port"),
        (
            "request_server_tls_enable",
            "request_server_tls_items",
            "coordinator/predict",
            "coordinator predict port",
        ),
    ),
    "controller": (
        ("http_server_tls_enable", "http_server_tls_items", "controller/http", "controller port"),
    ),
}
# (enable flag, items key, endpoints it calls) of each Motor role's TLS clients
_MOTOR_TLS_CLIENTS = {
    "coordinator": (
        ("mindie_client_tls_enable", "mindie_client_tls_items", ("server/*/infer",)),
        ("mindie_mangment_tls_enable", "mindie_mangment_tls_items", ("server/*/management",)),
    ),
    "controller": (
        (
            "request_server_tls_enable",
            "request_server_tls_items",
            ("server/*/management", "server/*/metrics"),
        ),
        ("request_coordinator_tls_enable", "request_coordinator_tls_items", ("coordinator/manage",)),
        ("external_coordinator_tls_enable", "external_coordinator_tls_items", ("coordinator/external",)),
    ),
}


def _motor_tls_items(
    pod: Pod, c: dict, tls: dict, enable: str, name: str
) -> Optional[dict[str, Optional[str]]]:
    """The files of tls_config.<name> when <enable> is on, else None."""
    if tls.get(enable) is not True or not isinstance(tls.get(name), dict):
        return None
    return _tls_item_files(pod, c, tls[name], f"tls_config.{name}")


def _motor_tls(pod: Pod, c: dict, comp: str, data: dict, endpoints: dict, clients: list) -> None:
    tls = data.get("tls_config") or {}
    role = "coordinator" if comp == "coordinator" else "controller"
    for enable, name, endpoint, label in _MOTOR_TLS_ENDPOINTS[role]:
        got = _motor_tls_items(pod, c, tls, enable, name)
        if got:
            endpoints[endpoint] = Endpoint(label, got.get("ca_cert"), got.get("tls_cert"))
    for enable, name, targets in _MOTOR_TLS_CLIENTS[role]:
        got = _motor_tls_items(pod, c, tls, enable, name)
        if got:
            clients.append(Client(f"{role} {name}", got.get("ca_cert"), got.get("tls_cert"), list(targets)))


def _deployer_tls(pod: Pod, c: dict, data: dict, endpoints: dict, clients: list) -> None:
    got = _tls_item_files(pod, c, data.get("server_tls_items") or {}, "server_tls_items")
    endpoints["ms-server/https"] = Endpoint("ms-server port", got.get("ca_cert"), got.get("tls_cert"))
    if data.get("client_k8s_tls_enable") is True:
        _tls_item_files(pod, c, data.get("client_k8s_tls_items") or {}, "client_k8s_tls_items")
    if data.get("client_mindie_server_tls_enable") is True:
        got = _tls_item_files(pod, c, data.get("client_mindie_tls_items") or {}, "client_mindie_tls_items")
        clients.append(
            Client(
                "ms-server client_mindie_tls_items",
                got.get("ca_cert"),
                got.get("tls_cert"),
                ["server/*/management"],
            )
        )


def _probe_commands(main: dict) -> list[tuple[str, str]]:
    """(where, command line) of the container's exec probes and preStop hook."""
    commands = []
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        cmd = (((main.get(probe) or {}).get("exec") or {}).get("command")) or []
        commands.append((probe, " ".join(cmd)))
    pre = ((((main.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command")) or []
    commands.append(("lifecycle.preStop", " ".join(pre)))
    return commands


def _check_probe_command(ctx: Ctx, label: str, where: str, cmd: str, env: dict) -> Optional[str]:
    """An http_client_ctl call exports what the Deployer's SetProbe does; its config file path."""
    effective = {**env, **_exports(cmd)}
    lib_in_cmd = re.search(
        r"LD_LIBRARY_PATH=[^;&]*(\$MIES_INSTALL_PATH|\$\{?MIES_INSTALL_PATH\}?|/)[^;&]*/lib", cmd
    )
    for var in ("HSECEASY_PATH", "MINDIE_UTILS_HTTP_CLIENT_CTL_CONFIG_FILE_PATH"):
        if not effective.get(var):
            ctx.fail(R_PROBE, label, f"{where}: {var}", "not exported (the Deployer's SetProbe exports it)")
    if not lib_in_cmd:
        ctx.fail(R_PROBE, label, f"{where}: LD_LIBRARY_PATH", "does not add the MindIE lib directory")
    return effective.get("MINDIE_UTILS_HTTP_CLIENT_CTL_CONFIG_FILE_PATH")


def _check_probes(pod: Pod, main: dict, env: dict, clients: list) -> None:
    label = f"{pod.owner} container {main['name']}"
    ctl_json = None
    for where, cmd in _probe_commands(main):
        if "http_client_ctl" in cmd:
            ctl_json = _check_probe_command(pod.ctx, label, where, cmd, env) or ctl_json
    if ctl_json is not None:
        _check_probe_config(pod, main, env, clients, label, ctl_json)


def _check_probe_config(pod: Pod, main: dict, env: dict, clients: list, label: str, ctl_json: str) -> None:
    """The probes' http_client_ctl.json is generated and readable; its TLS cert joins `clients`."""
    ctx = pod.ctx
    before = len(ctx.violations)
    data = _json(pod.read(main, ctl_json, 0o640, "http_client_ctl.json"))
    if data is None:
        if len(ctx.violations) == before:
            ctx.fail(
                R_PROBE_CFG, label, ctl_json, "http_client_ctl.json cannot be traced to generated content"
            )
        else:
            ctx.fail(
                R_PROBE_CFG, label, ctl_json, "the probes' http_client_ctl.json is not readable by MindIE"
            )
        return
    check_json(ctx, "http_client_ctl.json", data, f"{label}: {ctl_json}")
    tls = env.get("MINDIE_USE_HTTPS", "true" if data.get("tls_enable") else "false") == "true"
    if tls and isinstance(data.get("cert"), dict):
        got = _tls_item_files(pod, main, data["cert"], "cert")
        target = {
            "server": f"server/{pod.labels.get('app.kubernetes.io/instance', pod.owner)}/management",
            "coordinator": "coordinator/status",
            "controller": "controller/http",
            "ms-server": "ms-server/https",
        }[pod.component]
        clients.append(
            Client(f"{pod.owner} http_client_ctl", got.get("ca_cert"), got.get("tls_cert"), [target])
        )


# ------------------------------------------------------------------ cross-object rules


def _verify_cell(
    ctx: Ctx,
    rule: str,
    cell: str,
    side: str,
    ca: Optional[str],
    cert: Optional[str],
    purpose: str,
    against: str,
) -> bool:
    """One direction of a TLS cell: `side`'s certificate verifies against the peer's CA file."""
    if not (ca and cert):
        ctx.fail(
            rule,
            cell,
            "certificates",
            f"the {side} certificate or {against} cannot be traced to generated content",
        )
        return False
    err = _verify_pems(ca, cert, purpose)
    if err:
        ctx.fail(rule, cell, f"{side} certificate", f"openssl verify -x509_strict against {against}: {err}")
        return False
    return True


@functools.lru_cache(maxsize=512)
def _verify_pems(ca: str, chain: str, purpose: str) -> Optional[str]:
    """openssl verify of these exact PEMs, once per process: the matrix checks one certificate
    against the same CA file from many clients, and a promotion or a test run checks each stack
    several times (the inputs are the whole question: same PEMs, same answer)."""
    with tempfile.TemporaryDirectory(prefix="mindie-verify-") as tmp:
        return _run_openssl_verify(ca, chain, purpose, Path(tmp))


def _run_openssl_verify(ca: str, chain: str, purpose: str, work: Path) -> Optional[str]:
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", chain, re.S)
    if not blocks:
        return "no certificate"
    (work / "ca.pem").write_text(ca)
    (work / "leaf.pem").write_text(blocks[0])
    args = ["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile", str(work / "ca.pem")]
    if len(blocks) > 1:
        (work / "chain.pem").write_text("".join(blocks[1:]))
        args += ["-untrusted", str(work / "chain.pem")]
    done = subprocess.run([*args, str(work / "leaf.pem")], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return None
    return (
        (done.stdout + done.stderr).strip().splitlines()[-1]
        if (done.stdout + done.stderr).strip()
        else "failed"
    )


def check_tls_matrix(
    ctx: Ctx, endpoints: dict[str, Endpoint], clients: list[Client]
) -> list[tuple[str, str, str]]:
    """Every (client, listener) cell both ways; returns the cells checked (client, listener, 'ok'/'fail')."""
    cells = []
    for client in clients:
        for pattern in client.targets:
            regex = re.compile(re.escape(pattern).replace(r"\*", "[^/]+"))
            for key, ep in sorted(endpoints.items()):
                if not regex.fullmatch(key):
                    continue
                cell = f"{client.name} -> {ep.name}"
                # the client's certificate against the server's CA file, and the other way round
                ok = _verify_cell(
                    ctx,
                    R_TLS_CLIENT,
                    cell,
                    "client",
                    ep.ca,
                    client.cert,
                    "sslclient",
                    "the server's CA file(s)",
                )
                ok &= _verify_cell(
                    ctx, R_TLS_SERVER, cell, "server", client.ca, ep.cert, "sslserver", "the client's ca_cert"
                )
                cells.append((client.name, ep.name, "ok" if ok else "fail"))
    return cells


RING_BY_NPU = {
    "huawei.com/Ascend910": ("ascend-910b", "ascend-910"),
    "huawei.com/Ascend310P": ("ascend-310P",),
}
"""The `ring-controller.atlas` values MindCluster accepts for each NPU resource."""


def _main_container(pod: Pod) -> dict[str, Any]:
    return (pod.spec.get("containers") or [{}])[0]


def check_cross(ctx: Ctx) -> None:
    """Rules that hold between objects: servers vs hardware, one image repository, the Deployer's view."""
    all_pods = list(pods(ctx))
    servers = [p for p in all_pods if p.component == "server"]
    for pod in servers:
        _check_server_hardware(ctx, pod)
    _check_one_repository(ctx, all_pods)
    https = {env_of(_main_container(p)).get("MINDIE_USE_HTTPS") == "true" for p in servers}
    for pod in (p for p in all_pods if p.component == "ms-server"):
        _check_deployer_view(ctx, pod, servers, https)
    _check_metrics_policies(ctx, servers)


def _check_server_hardware(ctx: Ctx, p: Pod) -> None:
    """The NPU request, ring-controller label, image variant and device group agree."""
    main = _main_container(p)
    label = f"{p.owner} container {main.get('name')}"
    resources = (main.get("resources") or {}).get("limits") or {}
    npu = next((k for k in resources if k.startswith("huawei.com/Ascend")), None)
    ring = p.labels.get("ring-controller.atlas")
    if npu and ring not in RING_BY_NPU.get(npu, ()):
        ctx.fail(
            R_RING,
            p.owner,
            "metadata.labels.ring-controller.atlas",
            f"{ring!r} does not match the requested {npu} (allowed: {', '.join(RING_BY_NPU.get(npu, ()))})",
        )
    tag = image_tag(main.get("image", "")) or ""
    if (ring == "ascend-310P" and "800I-A2" in tag) or (
        ring in ("ascend-910b", "ascend-910") and "300I-Duo" in tag
    ):
        ctx.fail(R_VARIANT, label, "image", f"{main.get('image')} is built for other hardware than {ring}")
    if npu and not (p.spec.get("securityContext") or {}).get("supplementalGroups"):
        ctx.fail(
            R_GROUPS,
            p.owner,
            "spec.securityContext.supplementalGroups",
            "empty: the server cannot open /dev/davinci* (owned by the HwHiAiUser group)",
        )


def _check_one_repository(ctx: Ctx, all_pods: list[Pod]) -> None:
    """Servers and Motor run one image repository (one MindIE build)."""
    repos: dict[str, list[str]] = {}
    for p in all_pods:
        if p.component in ("server", "coordinator", "controller"):
            repos.setdefault(repository(_main_container(p).get("image", "")), []).append(p.owner)
    if len(repos) > 1:
        ctx.fail(
            R_REPO,
            ", ".join(sorted(o for v in repos.values() for o in v)),
            "image",
            f"several repositories: {', '.join(sorted(repos))}",
        )


def _check_deployer_view(ctx: Ctx, p: Pod, servers: list[Pod], https: set[bool]) -> None:
    """The Deployer's TLS switch matches the servers' and it manages only namespace mindie."""
    data = None
    for (_vol, inner), (_mode, source, init) in p.installs().items():
        if inner.endswith("ms_server.json"):
            data = _json(p.source_text(init, source))
    if data is not None and https and data.get("client_mindie_server_tls_enable") not in https:
        ctx.fail(
            R_TLS_SWITCH,
            f"{p.owner} container {_main_container(p).get('name')}",
            "client_mindie_server_tls_enable",
            f"{data.get('client_mindie_server_tls_enable')} while the servers' httpsEnabled is "
            f"{sorted(https)}",
        )
    for s in servers:
        ns = s.owner.split(" ", 1)[1].split("/", 1)[0]
        if ns != "mindie":
            problem = f"{ns!r}: the Deployer manages namespace mindie only"
            ctx.fail(R_NAMESPACE, s.owner, "metadata.namespace", problem)


def _check_metrics_policies(ctx: Ctx, servers: list[Pod]) -> None:
    """No NetworkPolicy opens the servers' metrics port to every source."""
    for policy in ctx.of("NetworkPolicy"):
        sel = ((policy.get("spec") or {}).get("podSelector") or {}).get("matchLabels") or {}
        if sel.get(COMPONENT) != "server":
            continue
        metrics_ports = set()
        for p in servers:
            ports = _main_container(p).get("ports") or []
            metrics_ports |= {cp["containerPort"] for cp in ports if cp.get("name") == "metrics"}
        for i, r in enumerate((policy.get("spec") or {}).get("ingress") or []):
            ports = {x.get("port") for x in r.get("ports") or []}
            opens = not ports or bool(ports & metrics_ports)
            if opens and not r.get("from"):
                ctx.fail(
                    R_METRICS,
                    _name(policy),
                    f"spec.ingress.{i}",
                    "opens the metrics port to every source; name the scrapers (mindie:servers."
                    "metricsSources)",
                )


def check(manifests: list[dict[str, Any]], tls_matrix: bool = True) -> list[Violation]:
    """Every rule over the objects of one stack; [] when MindIE would accept them."""
    ctx = Ctx(manifests)
    endpoints: dict[str, Endpoint] = {}
    clients: list[Client] = []
    for m in ctx.of("ConfigMap"):
        for key, text in (m.get("data") or {}).items():
            if key in {s.file for s in SPECS}:
                data = _json(text)
                if data is None:
                    ctx.fail(R_STAGED, f"{_name(m)}: {key}", "(file)", "not valid JSON")
    for pod in pods(ctx):
        check_pod(pod, endpoints, clients)
    check_cross(ctx)
    if tls_matrix:
        check_tls_matrix(ctx, endpoints, clients)
    unique = list(dict.fromkeys(ctx.violations))
    return unique


def tls_cells(manifests: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The TLS matrix of one stack (for reports and tests)."""
    ctx = Ctx(manifests)
    endpoints: dict[str, Endpoint] = {}
    clients: list[Client] = []
    for pod in pods(ctx):
        check_pod(pod, endpoints, clients)
    return check_tls_matrix(ctx, endpoints, clients)


MUTATION_TESTS = {
    R_STAGED.id: "test_config_mounted_straight_from_the_configmap, test_staged_key_too_open_or_other_uid",
    R_PATH.id: "test_motor_path_outside_the_accepted_form",
    R_HOME.id: "test_server_tls_file_outside_the_home",
    R_PROBE.id: "test_probe_without_the_deployer_exports",
    R_PROBE_CFG.id: "test_probe_config_not_staged",
    R_TLS_CLIENT.id: "test_management_client_issued_by_the_business_ca",
    R_TLS_SERVER.id: "test_client_trusting_the_wrong_ca",
    R_PLAIN_KEY.id: "test_server_key_encrypted",
    R_PASSWD.id: "test_motor_password_file_that_does_not_open_the_key",
    R_NO_KMC.id: "test_kmc_key_store_keys",
    R_TLS_SWITCH.id: "test_deployer_tls_switch_differs",
    R_NAMESPACE.id: "test_servers_outside_the_deployer_namespace",
    R_RING.id: "test_ring_controller_not_the_device",
    R_VARIANT.id: "test_310p_group_on_the_800i_a2_image",
    R_REPO.id: "test_motor_from_another_repository",
    R_GROUPS.id: "test_npu_pod_without_the_device_group",
    R_DEVICES.id: "test_npu_device_ids",
    R_MODEL.id: "test_start_without_the_model_check",
    R_METRICS.id: "test_metrics_port_open_to_everyone",
}
"""Rule -> the mutation test in tests/conformance/test_contract.py that makes it fail."""


def contract_table() -> str:
    """docs/mindie-contract.md's generated table: rule -> where upstream checks it -> how -> the test."""
    rows = [
        "| rule | where upstream checks it | what | how this program satisfies it | mutation test |",
        "|---|---|---|---|---|",
    ]
    for r in RULES.values():
        spec = next((s for s in SPECS if s.rule_id == r.id), None)
        test = (
            f"test_removing_any_required_key_fails_naming_it[{spec.file}]"
            if spec is not None
            else MUTATION_TESTS.get(r.id, "")
        )
        what = r.summary.replace("|", "/")
        rows.append(f"| `{r.id}` | {r.citation} | {what} | {r.how} | `{test}` |")
    return "\n".join(rows) + "\n"
