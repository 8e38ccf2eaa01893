"""Motor's generated files from the validated `mindie:motor` settings (pure: no resources).

ms_coordinator.json, ms_controller.json, http_client_ctl.json and the server list the controller
and the rank-table writer read; the components (components/motor/) mount them at the paths
components/motor/files.py names, and checksum them to roll the pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.motor.files import RANKTABLE_DIR, SECURITY_DIR
from domain.security_tree import tls_items
from stacks.settings.motor import DEPLOY_MODE, SCHEDULER_TYPE, Algorithm, MotorSettings

STRING_TOKEN_RATE = 4.02
"""ms_coordinator.json string_token_rate: read with .at() (Configure.cpp ReadStrTokenRateConfig),
1.0-100.0; the product's sample value."""

SERVER_LIST_KEYS = (
    "group",
    "deployment",
    "service",
    "replicas",
    "selector",
    "infer_port",
    "management_port",
    "npu_type",
    "npu_chip_num",
    "tls",
)
"""Keys of one `endpoints` entry of the server component (the contract's shape)."""


def _log_info(motor: MotorSettings, logs_dir: str, program: str) -> dict[str, Any]:
    return {
        "log_level": motor.log_level.value,
        "to_file": True,
        "to_stdout": True,
        "run_log_path": f"{logs_dir}/{program}_run_log.txt",
        "operation_log_path": f"{logs_dir}/{program}_operation_log.txt",
        "max_log_str_size": 4096,
        "max_log_file_size": 20,
        "max_log_file_num": 10,
    }


def coordinator_config(motor: MotorSettings, mies_install_path: str, tls: bool) -> dict[str, Any]:
    """ms_coordinator.json for deploy_mode single_node (keys as the product's sample file)."""
    c = motor.coordinator
    own = tls_items(f"{SECURITY_DIR}/self")
    client = tls_items(f"{SECURITY_DIR}/mindieclient")
    management_client = tls_items(f"{SECURITY_DIR}/mindieclient-mgmt")
    scheduler: dict[str, Any] = {
        "deploy_mode": DEPLOY_MODE,
        "scheduler_type": SCHEDULER_TYPE,
        "algorithm_type": c.algorithm_type.value,
    }
    if c.algorithm_type is Algorithm.CACHE_AFFINITY:
        # Required with cache_affinity; the product writes them as strings.
        scheduler |= {
            "cache_size": str(c.cache_size),
            "slots_thresh": str(c.slots_thresh),
            "block_thresh": str(c.block_thresh),
        }
    return {
        "http_config": {
            # Never listen on 0.0.0.0: the IPs come from the command line ($POD_IP), as boot.sh does.
            "allow_all_zero_ip_listening": False,
            "predict_ip": "127.0.0.1",
            "predict_port": str(c.ports.predict),
            "manage_ip": "127.0.0.1",
            "manage_port": str(c.ports.manage),
            "alarm_port": str(c.ports.alarm),
            "external_port": str(c.ports.external),
            "status_port": str(c.ports.status),
            "server_thread_num": 10,
            "client_thread_num": 10,
            "http_timeout_seconds": c.http_timeout_seconds,
            "keep_alive_seconds": 180,
            "server_name": "MindIE-MS",
            "user_agent": "Coordinator/1.0",
        },
        "request_limit": {
            "single_node_max_requests": c.single_node_max_requests,
            "max_requests": c.max_requests,
            "body_limit": 10,
        },
        "metrics_config": {"enable": False, "trigger_size": 100},
        "prometheus_metrics_config": {"reuse_time": 3},
        "exception_config": {
            "max_retry": 5,
            # Configure.cpp ReadExceptionConfig: schedule_timeout + 20 <= infer_timeout, else it is lowered
            # at start with a warning; generate what the Coordinator would run with.
            "schedule_timeout": 580,
            "first_token_timeout": 600,
            "infer_timeout": 600,
            "tokenizer_timeout": 300,
        },
        "log_info": _log_info(motor, f"{mies_install_path}/logs", "ms_coordinator"),
        "digs_scheduler_config": scheduler,
        "tls_config": {
            "controller_server_tls_enable": tls,  # management port (the controller calls it)
            "controller_server_tls_items": own,
            "request_server_tls_enable": tls,  # predict port (users)
            "request_server_tls_items": own,
            "mindie_client_tls_enable": tls,  # towards the servers' inference port
            "mindie_client_tls_items": client,
            "mindie_mangment_tls_enable": tls,  # (sic, the product's key) servers' management port
            "mindie_mangment_tls_items": management_client,
            "external_tls_enable": tls,
            "external_tls_items": own,
            "status_tls_enable": tls,  # status port (the probes)
            "status_tls_items": own,
            "alarm_client_tls_enable": tls,
            "alarm_client_tls_items": own,
            "etcd_server_tls_enable": False,  # no etcd backup in single_node
            "etcd_server_tls_items": own,
        },
        "backup_config": {
            "database_server_dns": "etcd.default.svc.cluster.local",
            "database_server_port": 2379,
            "function_enable": False,
        },
        "string_token_rate": STRING_TOKEN_RATE,
    }


def controller_config(
    motor: MotorSettings,
    mies_install_path: str,
    tls: bool,
    server_infer_port: int,
    server_management_port: int,
    server_metrics_port: int = 1027,
) -> dict[str, Any]:
    """ms_controller.json for deploy_mode single_node (keys as the product's sample file).

    Every key `Ascend-MindIE-Motor@28a7e9f:mindie_service/management_service/controller/constant/
    ControllerConfig.cpp` reads unconditionally is present (IsConfigJsonIntValid: node_manager_port,
    initial_dist_server_port; InitConfig: scaling_rule_file_path; IsMultiNodeInferConfigValid:
    p_node_config/d_node_config once multi_node_infer_config exists); mindiectl/conformance.py holds
    each rule with its citation.
    """
    c = motor.controller
    logs = f"{mies_install_path}/logs"
    own = tls_items(f"{SECURITY_DIR}/self")
    # The controller calls the servers' management and metrics ports: the management-plane client.
    client = tls_items(f"{SECURITY_DIR}/mindieclient-mgmt")
    single = {
        # Read only when multi_node_infer_enable is true; present and valid because the validator
        # checks the objects whenever multi_node_infer_config exists (the sample's values).
        "enable_dist_dp_server": False,
        "node_machine_num": 1,
        "tp_size": 1,
        "dp_size": 1,
        "sp_size": 1,
        "cp_size": 1,
    }
    return {
        "allow_all_zero_ip_listening": False,
        "deploy_mode": DEPLOY_MODE,
        # Fault recovery: the controller reloads these on restart. They live in the
        # Motor logs directory, which is the PersistentVolumeClaim (the seed's status-data).
        "process_manager": {"to_file": True, "file_path": f"{logs}/controller_process_status.json"},
        "cluster_status": {"to_file": True, "file_path": f"{logs}/cluster_status_output.json"},
        "controller_backup_cfg": {
            "function_sw": False,
            "database_server_dns": "etcd.default.svc.cluster.local",
            "database_server_port": 2379,
        },
        "global_rank_table_file_path": f"{RANKTABLE_DIR}/global_ranktable.json",
        "cluster_synchronization_seconds": 1,
        "rank_table_detecting_seconds": 5,
        "disappeared_server_waiting_seconds": c.disappeared_server_waiting_seconds,
        "default_p_rate": 0,
        "default_d_rate": 0,
        "is_heterogeneous": False,
        "server_online_attempt_times": 4,
        "server_online_wait_seconds": 5,
        "init_role_attempt_times": 2,
        "check_role_attempt_times": 300,
        "check_role_wait_seconds": 5,
        "mindie_server_control_port": server_management_port,
        "mindie_server_port": server_infer_port,
        "mindie_server_metric_port": server_metrics_port,
        "controller_alarm_port": 1027,
        # Required by IsConfigJsonIntValid; used only with node managers / distributed DP servers
        # (the sample's values; nothing listens on them in single_node).
        "node_manager_port": 1028,
        "initial_dist_server_port": 10000,
        # InitConfig reads it with .at(); only PD static scale-in (FaultManager) opens the file.
        "scaling_rule_file_path": "",
        "mindie_ms_coordinator_port": motor.coordinator.ports.manage,
        "mindie_ms_coordinator_external_port": motor.coordinator.ports.external,
        "http_timeout_seconds": c.http_timeout_seconds,
        "http_retries": c.http_retries,
        "role_decision_methods": "digs",
        "digs_request_summary_input_length": 3000,
        "digs_request_summary_output_length": 200,
        "digs_model_config_path": f"{mies_install_path}/conf/model_config/llama2-70B.json",
        "digs_machine_config_path": f"{mies_install_path}/conf/machine_config/800IA2.json",
        "digs_prefill_slo": 1000,
        "digs_decode_slo": 50,
        "multi_node_infer_config": {
            "multi_node_infer_enable": False,
            "p_node_config": dict(single),
            "d_node_config": dict(single),
        },
        "model_type": "llama2-70B",
        "transfer_type": "D2DTransfer",
        "digs_pp": 1,
        "digs_periodic_role_decision": {
            # PD role switching means nothing without P/D roles.
            "auto_pd_role_switching_enable": False,
            "role_decision_time_period": 86400,
            "tasks_end_wait_seconds": 300,
        },
        # ip: the controller prefers $POD_IP (set on the container) over this value.
        "http_server": {"ip": "127.0.0.1", "port": c.port},
        "tls_config": {
            "request_coordinator_tls_enable": tls,
            "request_coordinator_tls_items": own,
            "request_server_tls_enable": tls,
            "request_server_tls_items": client,
            "http_server_tls_enable": tls,
            "http_server_tls_items": own,
            "cluster_tls_enable": False,  # no MindCluster ClusterD in single_node
            "cluster_tls_items": own,
            "etcd_server_tls_enable": False,  # backup off
            "etcd_server_tls_items": own,
            "ccae_tls_enable": False,  # no CCAE
            "ccae_tls_items": own,
            "alarm_tls_enable": tls,
            "alarm_tls_items": own,
            "external_coordinator_tls_enable": tls,
            "external_coordinator_tls_items": own,
        },
        "log_info": _log_info(motor, logs, "ms_controller"),
    }


def http_client_ctl_config(motor: MotorSettings, mies_install_path: str, tls: bool) -> dict[str, Any]:
    """http_client_ctl.json: the probes' HTTP(S) client (each pod presents its own identity)."""
    own = tls_items(f"{SECURITY_DIR}/self")
    return {
        "tls_enable": tls,
        "cert": own,
        "log_info": {
            "log_level": motor.log_level.value,
            "to_file": False,
            "run_log_path": f"{mies_install_path}/logs/http_client_ctl_run_log.txt",
            "operation_log_path": f"{mies_install_path}/logs/http_client_ctl_operation_log.txt",
        },
    }


def server_list(servers: list[Mapping[str, Any]], namespace: str) -> dict[str, Any]:
    """The server list the controller needs, from the server component's `endpoints`.

    It replaces the scripts' generated list: every group with its Deployment,
    its pods' selector, replica count and ports, so a new replica or group is
    a change of settings, not a script run.
    """
    groups = []
    for index, entry in enumerate(servers):
        missing = [k for k in SERVER_LIST_KEYS if k not in entry]
        if missing:
            raise ValueError(f"servers[{index}] lacks {', '.join(missing)} (the endpoints contract)")
        group = {k: entry[k] for k in SERVER_LIST_KEYS}
        group["replicas"] = int(group["replicas"])
        group["infer_port"] = int(group["infer_port"])
        group["management_port"] = int(group["management_port"])
        group["npu_chip_num"] = int(group["npu_chip_num"])
        group["selector"] = dict(sorted(group["selector"].items()))
        group["service_dns"] = f"{entry['service']}.{namespace}.svc"
        groups.append(group)
    return {"deploy_mode": DEPLOY_MODE, "server_count": sum(g["replicas"] for g in groups), "groups": groups}
