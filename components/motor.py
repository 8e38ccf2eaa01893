"""MindIE Motor's Coordinator and Controller for `deploy_mode: single_node` (the seed's 方式二).

What deploy.sh, boot.sh and mindie_ms_{coordinator,controller}.yaml do, declared:

- ConfigMaps generated from typed settings: ms_coordinator.json, ms_controller.json,
  http_client_ctl.json, and the server list (from the server component's `endpoints`).
- The Coordinator Deployment (`./bin/ms_coordinator $POD_IP <predict> $POD_IP <manage>`,
  as boot.sh runs it) with startup/readiness probes on its status port and an
  optional liveness probe, and its Service (NodePort when it is the entry).
- The Controller Deployment (`./bin/ms_controller`) with startup/health probes,
  its fault-recovery state (the Motor logs directory) on a PersistentVolumeClaim.

One component holds both: the two are configured from each other (ms_controller.json
names the coordinator's ports, both use the same http_client_ctl.json, the controller's
server list names the coordinator), share the TLS material and are deployed or not
together. They stay two Deployments with their own component labels.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from stacks.settings.motor import DEPLOY_MODE, SCHEDULER_TYPE, Algorithm, MotorSettings
from stacks.settings.runtime_user import RuntimeUser

from . import staging
from .ca import secret_keys as ca_secret_keys
from .k8s_helpers import container_security_context, pod_security_context, state_claim
from .labels import selector_labels, standard_labels

CONFIG_DIR = "/mnt/mindie/conf"
"""Where the staged (copied, components/staging.py) JSON files are mounted read-only."""
SECURITY_DIR = "/mnt/mindie/security"
"""Staged certificates: <SECURITY_DIR>/self (the pod's own identity), /mindieclient (towards the
servers' inference port, business CA) and /mindieclient-mgmt (towards their management and metrics
ports, management CA: the port verifies clients against managementTlsCaFile)."""
CLIENT_IDENTITIES = ("mindieclient", "mindieclient-mgmt")
"""The client identities towards the servers, staged under SECURITY_DIR/<identity>."""
STRING_TOKEN_RATE = 4.02
"""ms_coordinator.json string_token_rate: read with .at() (Configure.cpp ReadStrTokenRateConfig),
1.0-100.0; the product's sample value."""
COORDINATOR_JSON = f"{CONFIG_DIR}/ms_coordinator.json"
CONTROLLER_JSON = f"{CONFIG_DIR}/ms_controller.json"
RANKTABLE_DIR = "/mnt/mindie/ranktable"
"""Writable directory of the global rank table (the writer sidecar writes it, the controller reads it)."""
RANKTABLE_FILE = f"{RANKTABLE_DIR}/global_ranktable.json"
WRITER_HEALTH_DIR = "/mnt/mindie/ranktable-writer-health"
"""The writer's heartbeat files (`alive`: its loop turns; `ready`: its last listing succeeded),
on a tiny emptyDir of its own: its probes read their age (issue 17: probes on every container)."""
WRITER_DIR = "/mnt/mindie/ranktable-writer"
"""The writer sidecar's program, its writer.json and the declared server_list.json (read-only)."""
TOKEN_DIR = "/var/run/secrets/mindie/serviceaccount"
"""The writer's projected API credentials (token, ca.crt, namespace); mounted in the sidecar only."""
WRITER_CONTAINER = "ranktable-writer"
WRITER_SCRIPT = (Path(__file__).parent / "scripts" / "ranktable_writer.py").read_text(encoding="utf-8")
"""The sidecar's program (stdlib only), shipped in a ConfigMap; tests import the same file."""
RBAC_GROUP = "rbac.authorization.k8s.io"
POD_READER_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (("", "pods", ("get", "list", "watch")),)
"""The writer's whole permission: read pods, in the stack's namespace (a Role, never a ClusterRole)."""

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

RESERVED_ENV = frozenset(
    {
        # The seed's pitfall: a Service named mindie-ms-coordinator injects this (tcp://ip:port)
        # into every pod with service links, and the controller reads it as a port.
        "MINDIE_MS_COORDINATOR_PORT",
        "MINDIE_MS_CONTROLLER_PORT",
        "MINDIE_MS_COORDINATOR_CONFIG_FILE_PATH",
        "MINDIE_MS_CONTROLLER_CONFIG_FILE_PATH",
        "MINDIE_MS_COORDINATOR_CONFIG_SINGLE_NODE_MAX_REQ",
        "MINDIE_MS_COORDINATOR_CONFIG_MAX_REQ",
        "MINDIE_MS_P_RATE",
        "MINDIE_MS_D_RATE",
        "GLOBAL_RANK_TABLE_FILE_PATH",
        "POD_IP",
        "MIES_INSTALL_PATH",
    }
)
"""Environment variables MindIE Motor reads: no Service may inject one of them."""


def service_link_variables(service_name: str, ports: list[tuple[int, str]] = ()) -> set[str]:
    """The variables Kubernetes' service links inject for a Service (docker-links style).

    `{NAME}_SERVICE_HOST`, `{NAME}_SERVICE_PORT`, `{NAME}_PORT`, and per port
    `{NAME}_PORT_{port}_{PROTO}` (+ `_PROTO`, `_PORT`, `_ADDR`), NAME being the
    upper-cased name with '-' turned into '_'.
    """
    name = service_name.upper().replace("-", "_")
    found = {f"{name}_SERVICE_HOST", f"{name}_SERVICE_PORT", f"{name}_PORT"}
    for port, proto in ports:
        base = f"{name}_PORT_{port}_{proto.upper()}"
        found |= {base, f"{base}_PROTO", f"{base}_PORT", f"{base}_ADDR"}
    return found


def check_service_name(service_name: str) -> str:
    """Refuse a Service name whose service-link variables MindIE Motor would read."""
    clash = sorted(service_link_variables(service_name) & RESERVED_ENV)
    if clash:
        raise ValueError(
            f"Service name {service_name!r} would inject {', '.join(clash)} into pods with service links; "
            "MindIE Motor reads that variable "
            "(the seed names the coordinator Service mindie-ms-coordinator-infer)"
        )
    return service_name


def tls_items(identity_dir: str) -> dict[str, str]:
    """One `*_tls_items` block pointing at a staged identity (staging.tls_files layout)."""
    return {
        "ca_cert": f"{identity_dir}/ca/ca.pem",
        "tls_cert": f"{identity_dir}/certs/cert.pem",
        "tls_key": f"{identity_dir}/keys/cert.key.pem",
        "tls_passwd": f"{identity_dir}/pass/key_pwd.txt",
        "tls_crl": f"{identity_dir}/ca/crl.pem",
    }


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


def config_files_volume(name: str, files) -> k8s.core.v1.VolumeArgs:
    """One read-only (0440) volume projecting `(ConfigMap, key)` pairs as files named by their keys."""
    return k8s.core.v1.VolumeArgs(
        name=name,
        projected=k8s.core.v1.ProjectedVolumeSourceArgs(
            default_mode=0o440,
            sources=[
                k8s.core.v1.VolumeProjectionArgs(
                    config_map=k8s.core.v1.ConfigMapProjectionArgs(
                        name=cm.metadata.name, items=[k8s.core.v1.KeyToPathArgs(key=key, path=key)]
                    )
                )
                for cm, key in files
            ],
        ),
    )


def dump(data: Any) -> str:
    """Canonical JSON (sorted keys, stable), the content of a ConfigMap key."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def checksum(*contents: str) -> str:
    digest = hashlib.sha256()
    for text in contents:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass
class MotorArgs:
    namespace: pulumi.Input[str]
    """Namespace of every object (compose passes the Namespace component's output)."""
    motor: MotorSettings
    """The validated `mindie:motor` settings."""
    mies_install_path: str
    """Motor install path in the image (MIES_INSTALL_PATH); its `logs` holds the recovery state."""
    servers: pulumi.Input[list[dict[str, Any]]]
    """The server component's `endpoints` (contract shape), one dict per server group."""
    server_infer_port: int = 1025
    """Default inference port of the servers (ms_controller.json mindie_server_port)."""
    server_management_port: int = 1026
    """Default management port of the servers (ms_controller.json mindie_server_control_port)."""
    server_metrics_port: int = 1027
    """Metrics port of the servers (ms_controller.json mindie_server_metric_port = metricsPort)."""
    entry_is_coordinator: bool = True
    """The Coordinator is the external entry: its Service is a NodePort, else ClusterIP."""
    node_port: Optional[int] = None
    """nodePort of the coordinator Service when it is the entry (inferServer.service_port)."""
    enable_tls: bool = True
    """HTTPS between coordinator, controller and servers (inferServer.mindie_server_config.enable_tls)."""
    security_secrets: Optional[Mapping[str, pulumi.Input[str]]] = None
    """Secret name per identity (CA component); with TLS: coordinator, controller, mindieclient."""
    tls_checksum: Optional[pulumi.Input[str]] = None
    """The CA component's checksum: pod annotation checksum/tls, so re-issued certificates roll the pods."""
    protect: bool = False
    """Protect (and retain on delete) the controller's recovery-state claim (prod)."""
    instance: str = "mindie"
    """app.kubernetes.io/instance of every object."""
    image: Optional[pulumi.Input[str]] = None
    """What `motor.image` runs as (MindieImage.image_ref: the derived image's digest); None: `motor.image`."""
    runtime_user: RuntimeUser = field(default_factory=RuntimeUser)
    """`mindie:runtimeUser`: runAsUser/runAsGroup/fsGroup, the derived image's UID."""


class Motor(pulumi.ComponentResource):
    """`mindie:motor:Motor`: the Coordinator and Controller of MindIE Motor (single_node)."""

    coordinator_service: pulumi.Output[str]
    coordinator_deployment: pulumi.Output[str]
    controller_deployment: pulumi.Output[str]
    state_claim: pulumi.Output[str]

    def __init__(self, name: str, args: MotorArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:motor:Motor", name, None, opts)
        motor = args.motor
        tls = args.enable_tls
        if tls:
            missing = [
                i
                for i in ("coordinator", "controller", *CLIENT_IDENTITIES)
                if i not in (args.security_secrets or {})
            ]
            if missing:
                raise ValueError(f"{name}: enable_tls needs security_secrets for {', '.join(missing)}")
        if args.entry_is_coordinator and args.node_port is None:
            raise ValueError(f"{name}: the coordinator is the entry, a node_port is required")
        child = pulumi.ResourceOptions(parent=self)
        mies = args.mies_install_path

        coordinator_name = f"{name}-coordinator"
        controller_name = f"{name}-controller"
        service_name = check_service_name(f"{coordinator_name}-infer")
        coordinator_labels = standard_labels(
            coordinator_name, args.instance, "coordinator", _tag(motor.image_of(motor.coordinator))
        )
        controller_labels = standard_labels(
            controller_name, args.instance, "controller", _tag(motor.image_of(motor.controller))
        )

        # --- configuration -------------------------------------------------
        coordinator_json = dump(coordinator_config(motor, mies, tls))
        controller_json = dump(
            controller_config(
                motor, mies, tls, args.server_infer_port, args.server_management_port,
                args.server_metrics_port,
            )
        )
        probe_json = dump(http_client_ctl_config(motor, mies, tls))
        server_list_json = pulumi.Output.all(args.servers, args.namespace).apply(
            lambda a: dump(server_list(a[0], a[1]))
        )

        def config_map(suffix: str, labels: dict[str, str], data: Mapping[str, pulumi.Input[str]]):
            return k8s.core.v1.ConfigMap(
                f"{name}-{suffix}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{name}-{suffix}", namespace=args.namespace, labels=labels
                ),
                data=dict(data),
                opts=child,
            )

        self.coordinator_config = config_map(
            "coordinator-config", coordinator_labels, {"ms_coordinator.json": coordinator_json}
        )
        self.controller_config = config_map(
            "controller-config", controller_labels, {"ms_controller.json": controller_json}
        )
        self.http_client_ctl_config = config_map(
            "http-client-ctl-config",
            standard_labels(f"{name}-http-client-ctl", args.instance, "controller"),
            {"http_client_ctl.json": probe_json},
        )
        self.server_list_config = config_map(
            "server-list", controller_labels, {"server_list.json": server_list_json}
        )

        # --- the rank-table writer: identity, permission, program ----------
        writer = motor.controller.ranktable_writer
        writer_json = pulumi.Output.from_input(args.namespace).apply(
            lambda ns: dump(
                writer_config(ns, selector_labels(coordinator_name, args.instance), writer.refresh_seconds)
            )
        )
        self.writer_config = config_map(
            "ranktable-writer",
            controller_labels,
            {"ranktable_writer.py": WRITER_SCRIPT, "writer.json": writer_json},
        )
        # A dedicated identity: the namespace's `default` account stays without any grant.
        self.service_account = k8s.core.v1.ServiceAccount(
            controller_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=controller_name, namespace=args.namespace, labels=controller_labels
            ),
            # Nothing mounts its token implicitly; the writer sidecar projects one explicitly.
            automount_service_account_token=False,
            opts=child,
        )
        self.pod_reader = k8s.rbac.v1.Role(
            f"{name}-controller-pod-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{controller_name}-pod-reader", namespace=args.namespace, labels=controller_labels
            ),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[group], resources=[resource], verbs=list(verbs))
                for group, resource, verbs in POD_READER_RULES
            ],
            opts=child,
        )
        self.pod_reader_binding = k8s.rbac.v1.RoleBinding(
            f"{name}-controller-pod-reader-bind",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{controller_name}-pod-reader", namespace=args.namespace, labels=controller_labels
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount",
                    name=self.service_account.metadata.name,
                    namespace=args.namespace,
                )
            ],
            role_ref=k8s.rbac.v1.RoleRefArgs(
                kind="Role", name=self.pod_reader.metadata.name, api_group=RBAC_GROUP
            ),
            opts=child,
        )

        # --- the controller's fault-recovery state --------------------------
        self.state = state_claim(
            f"{name}-controller-status",
            claim_name=f"{controller_name}-status",
            namespace=args.namespace,
            labels=controller_labels,
            storage_class=motor.controller.state_storage.storage_class,
            size=motor.controller.state_storage.size,
            parent=self,
            protect=args.protect,
        )

        # --- pods ------------------------------------------------------------
        common = _Common(args, tls)
        coordinator_checksum = checksum(coordinator_json, probe_json)
        controller_checksum = pulumi.Output.all(server_list_json, writer_json).apply(
            lambda a: checksum(controller_json, probe_json, a[0], WRITER_SCRIPT, a[1])
        )
        c = motor.coordinator
        ports = c.ports
        coordinator_probes = {
            "startup_probe": common.startup_probe(ports.status, c.startup_timeout_seconds),
            "readiness_probe": common.probe(ports.status, "/v1/readiness", period=5, timeout=10, failures=3),
        }
        if c.liveness_probe.enabled:
            lp = c.liveness_probe
            coordinator_probes["liveness_probe"] = common.probe(
                ports.status,
                "/v1/health",
                period=lp.period_seconds,
                timeout=lp.timeout_seconds,
                failures=lp.failure_threshold,
            )
        self.coordinator = common.deployment(
            coordinator_name,
            labels=coordinator_labels,
            config_checksum=coordinator_checksum,
            pod_spec=common.pod_spec(
                node_selector=c.node_selector,
                container=common.program_container(
                    "coordinator",
                    c,
                    # boot.sh: cd $MIES_INSTALL_PATH; ./bin/ms_coordinator $POD_IP 1025 $POD_IP 1026
                    program=f'./bin/ms_coordinator "$POD_IP" {ports.predict} "$POD_IP" {ports.manage}',
                    env={"MINDIE_MS_COORDINATOR_CONFIG_FILE_PATH": COORDINATOR_JSON},
                    ports=(
                        ("predict", ports.predict),
                        ("manage", ports.manage),
                        ("alarm", ports.alarm),
                        ("external", ports.external),
                        ("status", ports.status),
                    ),
                    volume_mounts=common.mounts(logs=("logs", f"{mies}/logs")),
                    **coordinator_probes,
                ),
                init=common.init_container(
                    c, ("ms_coordinator.json", "http_client_ctl.json"), CLIENT_IDENTITIES
                ),
                volumes=common.volumes(
                    config=[
                        (self.coordinator_config, "ms_coordinator.json"),
                        (self.http_client_ctl_config, "http_client_ctl.json"),
                    ],
                    own_identity="coordinator",
                    clients=CLIENT_IDENTITIES,
                    logs=k8s.core.v1.VolumeArgs(
                        name="logs", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="2Gi")
                    ),
                ),
            ),
            opts=child,
        )

        ctl = motor.controller
        writer_container = k8s.core.v1.ContainerArgs(
            name=WRITER_CONTAINER,
            image=writer.image or common.image_of(ctl),
            image_pull_policy=motor.image_pull_policy.value,
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
                    name="LOG_LEVEL",
                    value="WARNING" if motor.log_level.value == "WARN" else motor.log_level.value,
                ),
            ],
            resources=_resources(writer.resources),
            # Same UID/GID as the controller (MindIE checks the owner of the files it reads);
            # the writer never needs a writable root, whatever the controller's escape hatch says.
            security_context=common.container_security(read_only_root=True),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="ranktable-writer", mount_path=WRITER_DIR, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="ranktable", mount_path=RANKTABLE_DIR),
                k8s.core.v1.VolumeMountArgs(name="kube-api-access", mount_path=TOKEN_DIR, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="ranktable-writer-health", mount_path=WRITER_HEALTH_DIR),
            ],
            # A loop turn takes at most refresh_seconds (+1 s settle); a listing failing for three
            # periods makes the writer unready, a loop stuck for three periods restarts it.
            readiness_probe=writer_probe("ready", 3 * writer.refresh_seconds + 10, period_seconds=10),
            liveness_probe=writer_probe(
                "alive", 3 * writer.refresh_seconds + 30,
                initial_delay_seconds=writer.refresh_seconds + 30, period_seconds=30, failure_threshold=3,
            ),
        )
        writer_volumes = [
            config_files_volume(
                "ranktable-writer",
                (
                    (self.writer_config, "ranktable_writer.py"),
                    (self.writer_config, "writer.json"),
                    (self.server_list_config, "server_list.json"),
                ),
            ),
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
                                path="token", expiration_seconds=writer.token_expiration_seconds
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
        self.controller = common.deployment(
            controller_name,
            labels=controller_labels,
            config_checksum=controller_checksum,
            # One controller at a time: two would both write the recovery state, and a
            # ReadWriteOnce claim cannot follow a surge pod to another node.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
            pod_spec=common.pod_spec(
                node_selector=ctl.node_selector,
                service_account=self.service_account.metadata.name,
                sidecars=[writer_container],
                container=common.program_container(
                    "controller",
                    ctl,
                    program="./bin/ms_controller",
                    env={
                        "MINDIE_MS_CONTROLLER_CONFIG_FILE_PATH": CONTROLLER_JSON,
                        "GLOBAL_RANK_TABLE_FILE_PATH": RANKTABLE_FILE,
                    },
                    ports=(("http", ctl.port),),
                    volume_mounts=common.mounts(
                        logs=("status-data", f"{mies}/logs"),
                        extra=[k8s.core.v1.VolumeMountArgs(name="ranktable", mount_path=RANKTABLE_DIR)],
                    ),
                    startup_probe=common.startup_probe(ctl.port, ctl.startup_timeout_seconds),
                    liveness_probe=common.probe(ctl.port, "/v1/health", period=10, timeout=10, failures=3),
                ),
                init=common.init_container(
                    ctl,
                    ("ms_controller.json", "http_client_ctl.json", "server_list.json"),
                    ("mindieclient-mgmt",),
                ),
                volumes=common.volumes(
                    config=[
                        (self.controller_config, "ms_controller.json"),
                        (self.http_client_ctl_config, "http_client_ctl.json"),
                        (self.server_list_config, "server_list.json"),
                    ],
                    own_identity="controller",
                    clients=("mindieclient-mgmt",),
                    logs=k8s.core.v1.VolumeArgs(
                        name="status-data",
                        persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                            claim_name=self.state.metadata.name
                        ),
                    ),
                    extra=[
                        k8s.core.v1.VolumeArgs(
                            name="ranktable",
                            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"),
                        ),
                        *writer_volumes,
                    ],
                ),
            ),
            opts=child,
        )

        self.service = k8s.core.v1.Service(
            f"{name}-coordinator-infer",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=service_name, namespace=args.namespace, labels=coordinator_labels
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="NodePort" if args.entry_is_coordinator else "ClusterIP",
                selector=selector_labels(coordinator_name, args.instance),
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="predict",
                        port=ports.predict,
                        target_port="predict",
                        protocol="TCP",
                        node_port=args.node_port if args.entry_is_coordinator else None,
                    )
                ],
            ),
            opts=child,
        )

        self.coordinator_service = self.service.metadata.name
        self.coordinator_deployment = self.coordinator.metadata.name
        self.controller_deployment = self.controller.metadata.name
        self.state_claim = self.state.metadata.name
        self.register_outputs(
            {
                "coordinator_service": self.coordinator_service,
                "coordinator_deployment": self.coordinator_deployment,
                "controller_deployment": self.controller_deployment,
                "state_claim": self.state_claim,
            }
        )


def _tag(image: str) -> Optional[str]:
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _resources(r) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": f"{r.cpu_request}m", "memory": f"{r.memory_request}Mi"},
        limits={"cpu": f"{r.cpu_limit}m", "memory": f"{r.memory_limit}Mi"},
    )


class _Common:
    """What both pods share: security context, environment, probes, volumes."""

    def __init__(self, args: MotorArgs, tls: bool):
        self.args = args
        self.motor = args.motor
        self.tls = tls
        self.mies = args.mies_install_path

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

    def env(self, extra: Mapping[str, str]) -> list[k8s.core.v1.EnvVarArgs]:
        values = {
            "MINDIE_USER_HOME_PATH": self.motor.mindie_user_home_path,
            "MIES_INSTALL_PATH": self.mies,
            "HSECEASY_PATH": f"{self.mies}/lib",
            "MINDIE_UTILS_HTTP_CLIENT_CTL_CONFIG_FILE_PATH": f"{CONFIG_DIR}/http_client_ctl.json",
            "MINDIE_USE_HTTPS": "true" if self.tls else "false",
            "MINDIE_LOG_TO_FILE": "1",
            "MINDIE_LOG_TO_STDOUT": "1",
            "MINDIE_LOG_LEVEL": self.motor.log_level.value,
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

    def annotations(self, config_checksum: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
        found: dict[str, pulumi.Input[str]] = {"checksum/config": config_checksum}
        if self.tls and self.args.tls_checksum is not None:
            found["checksum/tls"] = self.args.tls_checksum
        return found

    def startup_probe(self, port: int, timeout_seconds: int) -> k8s.core.v1.ProbeArgs:
        """Every 5 s for `timeout_seconds` (the program's startup_timeout), 10 s per try."""
        return self.probe(port, "/v1/startup", period=5, timeout=10, failures=math.ceil(timeout_seconds / 5))

    def deployment(
        self, name: str, *, labels, config_checksum, pod_spec, opts, strategy=None
    ) -> k8s.apps.v1.Deployment:
        """A one-replica Deployment `name` whose pods roll when `config_checksum` (or TLS) changes."""
        return k8s.apps.v1.Deployment(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self.args.namespace, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                strategy=strategy,
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels=selector_labels(name, self.args.instance)
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels, annotations=self.annotations(config_checksum)
                    ),
                    spec=pod_spec,
                ),
            ),
            opts=opts,
        )

    def program_container(
        self, name: str, program_settings, *, program: str, env: Mapping[str, str], ports, volume_mounts,
        **probes,
    ) -> k8s.core.v1.ContainerArgs:
        """The container of one MindIE Motor program (`program`, run from boot.sh's start)."""
        return k8s.core.v1.ContainerArgs(
            name=name,
            image=self.image_of(program_settings),
            image_pull_policy=self.motor.image_pull_policy.value,
            command=["/bin/bash", "-c"],
            args=[self.start(program)],
            env=self.env(env),
            ports=[k8s.core.v1.ContainerPortArgs(name=n, container_port=p, protocol="TCP") for n, p in ports],
            resources=_resources(program_settings.resources),
            security_context=self.container_security(),
            volume_mounts=volume_mounts,
            **probes,
        )

    def image_of(self, part) -> pulumi.Input[str]:
        """The part's own image override, else the (possibly derived) Motor image."""
        if part.image is None and self.args.image is not None:
            return self.args.image
        return self.motor.image_of(part)

    def container_security(self, read_only_root: Optional[bool] = None) -> k8s.core.v1.SecurityContextArgs:
        return container_security_context(
            run_as_user=self.args.runtime_user.uid,
            run_as_group=self.args.runtime_user.gid,
            read_only_root_filesystem=(
                self.motor.read_only_root_filesystem if read_only_root is None else read_only_root
            ),
        )

    def npu_affinity(self) -> Optional[k8s.core.v1.AffinityArgs]:
        term = self.motor.npu_node_affinity()
        if term is None:
            return None
        return k8s.core.v1.AffinityArgs(node_affinity=k8s.core.v1.NodeAffinityArgs(
            required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                node_selector_terms=[k8s.core.v1.NodeSelectorTermArgs(match_expressions=[
                    k8s.core.v1.NodeSelectorRequirementArgs(**term)
                ])]
            )
        ))

    def pod_spec(
        self, *, node_selector, container, volumes, init, service_account=None, sidecars=()
    ) -> k8s.core.v1.PodSpecArgs:
        return k8s.core.v1.PodSpecArgs(
            # Service links would inject <SERVICE>_PORT=tcp://... for every Service of the
            # namespace; MindIE reads MINDIE_MS_COORDINATOR_PORT (the seed's pitfall). Off.
            enable_service_links=False,
            # Neither MindIE program talks to the Kubernetes API. The controller pod's rank-table
            # writer does, through a token volume it alone mounts (see the Motor component).
            automount_service_account_token=False,
            service_account_name=service_account,
            node_selector=dict(node_selector) or None,
            # CPU-only pods: by default never on the NPU nodes (the seed's example runs them on a
            # separate node, ubuntu10), so they do not take the servers' CPU and memory.
            affinity=self.npu_affinity(),
            security_context=pod_security_context(
                run_as_user=self.args.runtime_user.uid,
                run_as_group=self.args.runtime_user.gid,
                fs_group=self.args.runtime_user.gid,
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

    def staged_files(self, config_keys, clients) -> list[staging.StagedFile]:
        """The copy step's files (components/staging.py): JSON at 0640, identities at 0400."""
        files = [
            staging.StagedFile(f"{staging.SOURCE}/config/{key}", f"conf/{key}", staging.CONFIG_MODE)
            for key in config_keys
        ]
        if self.tls:
            for identity in ("self", *clients):
                files += staging.tls_files(f"{staging.SOURCE}/tls-{identity}", f"security/{identity}")
        return files

    def init_container(self, program_settings, config_keys, clients) -> k8s.core.v1.ContainerArgs:
        """The copy step, in the program's image and uid (the owner MindIE checks)."""
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
            self.motor.image_of(program_settings),
            self.motor.image_pull_policy.value,
            self.staged_files(config_keys, clients),
            sources,
            run_as_user=self.args.runtime_user.uid,
            run_as_group=self.args.runtime_user.gid,
        )

    def volumes(
        self, *, config, own_identity: str, logs, clients=(), extra=()
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
            secrets = self.args.security_secrets or {}
            for volume, identity in (("tls-self", own_identity), *((f"tls-{c}", c) for c in clients)):
                found.append(staging.secret_volume(volume, secrets[identity], keys=ca_secret_keys(identity)))
        return found
