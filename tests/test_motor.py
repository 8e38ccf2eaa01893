"""MindIE Motor (Coordinator/Controller): settings rules, generated JSON, Services, pods, service links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.motor.coordinator import RESERVED_ENV, check_service_name, service_link_variables
from mindiectl.render import manifests
from mindiectl.schema import schema_errors
from stacks.composition.motor_files import server_list
from stacks.settings.errors import SettingsError
from stacks.settings.motor import MotorSettings, prefix_cache_mismatch, prefix_cache_required
from stacks.settings.stack import load_settings

from .helpers import STACKS, secret_keys, stack_config

MIES = "/usr/local/Ascend/mindie/latest/mindie-service"
# The servers' repository and variant (one MindIE image for Server and Motor; the KMC-free line).
IMAGE = "registry.example.com/mindie/mindie-nonroot:2.3.0-800I-A2-py311-openeuler24.03-lts"
COORDINATOR_CM = "configmap.mindie.mindie-ms-coordinator-config.yaml"
CONTROLLER_CM = "configmap.mindie.mindie-ms-controller-config.yaml"
PROBE_CM = "configmap.mindie.mindie-ms-http-client-ctl-config.yaml"
SERVER_LIST_CM = "configmap.mindie.mindie-ms-server-list.yaml"
SERVICE = "service.mindie.mindie-ms-coordinator-infer.yaml"
COORDINATOR = "deployment.mindie.mindie-ms-coordinator.yaml"
CONTROLLER = "deployment.mindie.mindie-ms-controller.yaml"
PVC = "persistentvolumeclaim.mindie.mindie-ms-controller-status.yaml"


def data(files: dict, name: str, key: str) -> dict:
    return json.loads(files[name]["data"][key])


def container(files: dict, name: str) -> dict:
    """The MindIE program's container (the first; the controller pod also runs the rank-table writer)."""
    first, *sidecars = files[name]["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in sidecars] in ([], ["ranktable-writer"])
    return first


def probe_command(probe: dict) -> str:
    assert probe["exec"]["command"][:2] == ["/bin/bash", "-c"]
    return probe["exec"]["command"][2]


@pytest.fixture(scope="module")
def staging(session_state):
    """entry=coordinator with cache_affinity and TLS (the committed staging stack)."""
    from mindiectl import stackfile
    from mindiectl.runtime import run_program

    cfg = stackfile.load("staging")
    return manifests(run_program("staging", dict(cfg.config), cfg.secret_keys, session_state("staging")))


@pytest.fixture(scope="module")
def server_entry(session_state):
    """entry=server with an explicitly enabled, in-cluster Motor (round_robin)."""
    from mindiectl import stackfile
    from mindiectl.runtime import run_program

    cfg = stackfile.load("dev")
    config = dict(cfg.config)
    config["mindie:motor"] = json.dumps({"enabled": True, "image": IMAGE})
    return manifests(run_program("dev", config, cfg.secret_keys, session_state("dev")))


# --- entry coordinator: Services and ConfigMaps ----------------------------------------


def test_coordinator_entry_service_is_nodeport_on_predict_port(staging):
    service = staging[SERVICE]
    assert service["spec"]["type"] == "NodePort"
    (port,) = service["spec"]["ports"]
    assert port == {
        "name": "predict",
        "port": 1025,
        "targetPort": "predict",
        "protocol": "TCP",
        "nodePort": 31005,
    }
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "mindie-ms-coordinator",
        "app.kubernetes.io/instance": "mindie-ms-coordinator",
    }
    assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "coordinator"


def test_every_configmap_is_declared(staging):
    for name in (COORDINATOR_CM, CONTROLLER_CM, PROBE_CM, SERVER_LIST_CM):
        assert name in staging, name


def test_ms_coordinator_json_is_what_the_seed_prescribes(staging):
    cfg = data(staging, COORDINATOR_CM, "ms_coordinator.json")
    scheduler = cfg["digs_scheduler_config"]
    assert scheduler["deploy_mode"] == "single_node"
    assert scheduler["scheduler_type"] == "default_scheduler"
    assert scheduler["algorithm_type"] == "cache_affinity"
    # cache_affinity's required parameters, as strings like the product's file
    assert (scheduler["cache_size"], scheduler["slots_thresh"], scheduler["block_thresh"]) == (
        "100",
        "0.05",
        "0.05",
    )
    http = cfg["http_config"]
    assert http["allow_all_zero_ip_listening"] is False
    assert [
        http[k] for k in ("predict_port", "manage_port", "alarm_port", "external_port", "status_port")
    ] == [
        "1025",
        "1026",
        "1027",
        "1028",
        "1029",
    ]
    tls = cfg["tls_config"]
    for key in (
        "controller_server",
        "request_server",
        "mindie_client",
        "mindie_mangment",
        "status",
        "external",
    ):
        assert tls[f"{key}_tls_enable"] is True, key
    assert tls["mindie_client_tls_items"]["tls_cert"] == "/mnt/mindie/security/mindieclient/certs/cert.pem"
    assert tls["status_tls_items"]["ca_cert"] == "/mnt/mindie/security/self/ca/ca.pem"
    assert tls["etcd_server_tls_enable"] is False and cfg["backup_config"]["function_enable"] is False


def test_ms_controller_json_is_what_the_seed_prescribes(staging):
    cfg = data(staging, CONTROLLER_CM, "ms_controller.json")
    assert cfg["deploy_mode"] == "single_node"
    assert cfg["allow_all_zero_ip_listening"] is False
    # fault-recovery state in the Motor logs directory (the mounted claim)
    assert cfg["process_manager"] == {
        "to_file": True,
        "file_path": f"{MIES}/logs/controller_process_status.json",
    }
    assert cfg["cluster_status"]["file_path"].startswith(f"{MIES}/logs/")
    assert cfg["global_rank_table_file_path"] == "/mnt/mindie/ranktable/global_ranktable.json"
    assert cfg["mindie_ms_coordinator_port"] == 1026  # the coordinator's manage port
    assert (cfg["mindie_server_port"], cfg["mindie_server_control_port"]) == (1025, 1026)
    assert cfg["http_server"]["port"] == 1026
    assert cfg["tls_config"]["request_coordinator_tls_enable"] is True
    # The servers' management/metrics ports verify against the management CA: the -mgmt client.
    assert cfg["tls_config"]["request_server_tls_items"]["tls_key"] == (
        "/mnt/mindie/security/mindieclient-mgmt/keys/cert.key.pem"
    )
    assert cfg["tls_config"]["cluster_tls_enable"] is False
    assert cfg["digs_periodic_role_decision"]["auto_pd_role_switching_enable"] is False


def test_http_client_ctl_json(staging):
    cfg = data(staging, PROBE_CM, "http_client_ctl.json")
    assert cfg["tls_enable"] is True
    assert set(cfg["cert"]) == {"ca_cert", "tls_cert", "tls_key", "tls_passwd", "tls_crl"}
    assert cfg["cert"]["tls_passwd"] == "/mnt/mindie/security/self/pass/key_pwd.txt"
    for name in (COORDINATOR, CONTROLLER):
        env = {e["name"]: e.get("value") for e in container(staging, name)["env"]}
        assert env["MINDIE_UTILS_HTTP_CLIENT_CTL_CONFIG_FILE_PATH"] == "/mnt/mindie/conf/http_client_ctl.json"
        assert env["MINDIE_USE_HTTPS"] == "true"


def test_server_list_comes_from_the_server_endpoints(staging):
    listing = data(staging, SERVER_LIST_CM, "server_list.json")
    assert listing["deploy_mode"] == "single_node"
    # staging declares two groups: the inferServer group (Ascend910) and an Ascend310P group
    main, extra = listing["groups"]
    assert main["group"] == "mindie-server" and main["replicas"] == 2 and main["npu_type"] == "Ascend910"
    assert (main["infer_port"], main["management_port"], main["tls"]) == (1025, 1026, True)
    assert main["service_dns"] == "mindie-server-infer.mindie.svc"
    assert main["selector"] == {
        "app.kubernetes.io/name": "mindie-server",
        "app.kubernetes.io/instance": "mindie-server",
    }
    assert extra["group"] == "mindie-server-310p" and extra["npu_type"] == "Ascend310P"
    assert listing["server_count"] == main["replicas"] + extra["replicas"]


def test_server_list_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"servers\[0\] lacks .*management_port"):
        server_list([{"group": "g", "deployment": "d", "service": "s", "replicas": 1}], "ns")


def test_a_new_replica_changes_the_list_and_rolls_the_controller(run_stack, staging):
    files = manifests(run_stack("staging", server={"replicas": 3}))
    listing = data(files, SERVER_LIST_CM, "server_list.json")
    assert listing["groups"][0]["replicas"] == 3
    assert listing["server_count"] == 3 + listing["groups"][1]["replicas"]
    before = staging[CONTROLLER]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    after = files[CONTROLLER]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert before != after
    # the coordinator's own files did not change: it does not roll
    assert (
        staging[COORDINATOR]["spec"]["template"]["metadata"]["annotations"]
        == files[COORDINATOR]["spec"]["template"]["metadata"]["annotations"]
    )


# --- entry server ------------------------------------------------------------------------


def test_server_entry_without_motor_declares_no_motor(run_stack):
    result = run_stack("dev")
    assert result.by_type("mindie:motor:Motor") == []
    assert result.outputs["prefixCache"] is False


def test_server_entry_with_motor_is_clusterip(server_entry):
    service = server_entry[SERVICE]
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert "nodePort" not in port and port["port"] == 1025
    cfg = data(server_entry, COORDINATOR_CM, "ms_coordinator.json")
    assert cfg["digs_scheduler_config"]["algorithm_type"] == "round_robin"
    assert "cache_size" not in cfg["digs_scheduler_config"]
    for name in (COORDINATOR_CM, CONTROLLER_CM, PROBE_CM, SERVER_LIST_CM):
        assert name in server_entry, name


@pytest.mark.parametrize("variant", ["staging", "server_entry"])
def test_every_motor_manifest_passes_strict_schema(variant, request):
    files = request.getfixturevalue(variant)
    for filename, manifest in files.items():
        assert schema_errors(manifest) == [], filename


# --- pods ----------------------------------------------------------------------------------


def test_start_commands_are_boot_sh_s(staging):
    coordinator = container(staging, COORDINATOR)
    assert coordinator["command"] == ["/bin/bash", "-c"]
    (script,) = coordinator["args"]
    assert script.endswith(
        'cd "$MIES_INSTALL_PATH" && exec ./bin/ms_coordinator "$POD_IP" 1025 "$POD_IP" 1026'
    )
    assert script.startswith('source "$MINDIE_USER_HOME_PATH/Ascend/mindie/set_env.sh"')
    (script,) = container(staging, CONTROLLER)["args"]
    assert script.endswith("exec ./bin/ms_controller")
    env = {e["name"]: e for e in coordinator["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["MIES_INSTALL_PATH"]["value"] == MIES
    assert env["MINDIE_MS_COORDINATOR_CONFIG_FILE_PATH"]["value"] == "/mnt/mindie/conf/ms_coordinator.json"
    assert "LD_LIBRARY_PATH" not in env  # appended in the shell, never replacing the image's


def test_coordinator_probes_on_status_port_and_no_liveness_by_default(staging):
    c = container(staging, COORDINATOR)
    assert "livenessProbe" not in c
    assert probe_command(c["startupProbe"]).endswith(
        f'"{MIES}/bin/http_client_ctl" "$POD_IP" 1029 /v1/startup 10 0'
    )
    assert c["startupProbe"]["periodSeconds"] == 5 and c["startupProbe"]["failureThreshold"] == 100
    assert " 1029 /v1/readiness " in probe_command(c["readinessProbe"])


def test_coordinator_liveness_is_configurable(run_stack):
    motor = {
        "image": IMAGE,
        "coordinator": {
            "algorithm_type": "cache_affinity",
            "liveness_probe": {
                "enabled": True,
                "period_seconds": 20,
                "timeout_seconds": 60,
                "failure_threshold": 6,
            },
        },
    }
    files = manifests(run_stack("staging", overrides={"mindie:motor": motor}))
    live = container(files, COORDINATOR)["livenessProbe"]
    assert " 1029 /v1/health 60 0" in probe_command(live)
    assert (live["periodSeconds"], live["timeoutSeconds"], live["failureThreshold"]) == (20, 62, 6)


def test_controller_probes(staging):
    c = container(staging, CONTROLLER)
    assert " 1026 /v1/startup " in probe_command(c["startupProbe"])
    assert " 1026 /v1/health " in probe_command(c["livenessProbe"])
    assert "readinessProbe" not in c


def test_pods_follow_the_security_standard(staging):
    for name, component in ((COORDINATOR, "coordinator"), (CONTROLLER, "controller")):
        template = staging[name]["spec"]["template"]
        assert template["metadata"]["labels"]["app.kubernetes.io/component"] == component
        pod = template["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        # CPU-only: no NPU nodeSelector; a required affinity keeps them off the NPU nodes.
        assert "nodeSelector" not in pod
        assert pod["affinity"] == {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "accelerator",
                                    "operator": "NotIn",
                                    "values": ["huawei-Ascend910", "huawei-Ascend310P"],
                                }
                            ]
                        }
                    ]
                }
            }
        }
        sc = pod["containers"][0]["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True and sc["runAsUser"] > 0 and sc["runAsGroup"] > 0
        resources = pod["containers"][0]["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
        assert "checksum/config" in template["metadata"]["annotations"]
        assert not any("hostPath" in v for v in pod["volumes"])


def test_staging_resources_come_from_config(staging):
    resources = container(staging, COORDINATOR)["resources"]
    # 8000m/8192Mi and 32000m/16384Mi from config, canonical as the Kubernetes provider returns them.
    assert resources == {
        "requests": {"cpu": "8", "memory": "8Gi"},
        "limits": {"cpu": "32", "memory": "16Gi"},
    }


def test_controller_state_on_a_claim_at_the_motor_logs_dir(staging):
    pod = staging[CONTROLLER]["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["status-data"] == f"{MIES}/logs"  # the seed: /<MindIE Motor install path>/logs
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["status-data"]["persistentVolumeClaim"] == {"claimName": "mindie-ms-controller-status"}
    assert staging[CONTROLLER]["spec"]["strategy"] == {"type": "Recreate"}
    assert staging[PVC]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert staging[PVC]["spec"]["resources"]["requests"] == {"storage": "1Gi"}


@pytest.mark.parametrize(("stack", "protected"), [("staging", False), ("prod", True)])
def test_recovery_state_is_protected_in_prod(run_stack, stack, protected):
    claim = run_stack(stack).one("kubernetes:core/v1:PersistentVolumeClaim", "mindie-ms-controller-status")
    assert claim.protect is protected and claim.retain_on_delete is protected


def test_tls_mounts_the_ca_secrets(staging):
    """The CA Secrets reach only the copy step; the programs read the staged copies (0400, own uid)."""
    pod = staging[COORDINATOR]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tls-self"]["secret"]["secretName"] == "mindie-tls-coordinator"
    assert volumes["tls-mindieclient"]["secret"]["secretName"] == "mindie-tls-mindieclient"
    assert volumes["tls-mindieclient-mgmt"]["secret"]["secretName"] == "mindie-tls-mindieclient-mgmt"
    keys = {i["key"] for i in volumes["tls-self"]["secret"]["items"]}
    assert keys == {"ca.pem", "cert.pem", "cert.key.pem", "key_pwd.txt", "crl.pem"}
    (init,) = pod["initContainers"]
    main = pod["containers"][0]
    sources = volumes.keys() - {"mindie-staged", "logs", "tmp"}
    assert {m["name"] for m in main["volumeMounts"]}.isdisjoint(sources)
    script = init["command"][-1]
    key = "/mnt/source/tls-self/cert.key.pem /mnt/stage/security/self/keys/cert.key.pem"
    assert f"install -D -m 0400 {key}" in script
    assert init["securityContext"]["runAsUser"] == main["securityContext"]["runAsUser"]
    ctl = {v["name"]: v for v in staging[CONTROLLER]["spec"]["template"]["spec"]["volumes"]}
    assert ctl["tls-self"]["secret"]["secretName"] == "mindie-tls-controller"


def test_tls_off(run_stack):
    files = manifests(run_stack("staging", server={"mindie_server_config.enable_tls": False}))
    assert data(files, PROBE_CM, "http_client_ctl.json")["tls_enable"] is False
    tls = data(files, COORDINATOR_CM, "ms_coordinator.json")["tls_config"]
    assert not any(v for k, v in tls.items() if k.endswith("_enable"))
    pod = files[COORDINATOR]["spec"]["template"]["spec"]
    assert not any("secret" in v for v in pod["volumes"])
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["MINDIE_USE_HTTPS"] == "false"
    for manifest in files.values():
        assert schema_errors(manifest) == []


def test_algorithm_change_rolls_the_coordinator(run_stack, staging):
    motor = {"image": IMAGE, "coordinator": {"algorithm_type": "round_robin"}}
    files = manifests(run_stack("staging", overrides={"mindie:motor": motor}))
    key = "checksum/config"
    before = staging[COORDINATOR]["spec"]["template"]["metadata"]["annotations"][key]
    assert files[COORDINATOR]["spec"]["template"]["metadata"]["annotations"][key] != before


# --- service links ------------------------------------------------------------------------


def test_service_link_variables_of_the_seed_pitfall():
    found = service_link_variables("mindie-ms-coordinator", [(1025, "TCP")])
    assert "MINDIE_MS_COORDINATOR_PORT" in found
    assert "MINDIE_MS_COORDINATOR_PORT_1025_TCP_ADDR" in found
    with pytest.raises(ValueError, match="MINDIE_MS_COORDINATOR_PORT"):
        check_service_name("mindie-ms-coordinator")
    assert check_service_name("mindie-ms-coordinator-infer") == "mindie-ms-coordinator-infer"


@pytest.mark.parametrize("stack", STACKS)
def test_no_service_injects_a_variable_motor_reads(stack, run_stack):
    files = manifests(run_stack(stack))
    for filename, manifest in files.items():
        if manifest["kind"] == "Service":
            ports = [(p["port"], p.get("protocol", "TCP")) for p in manifest["spec"].get("ports", [])]
            clash = service_link_variables(manifest["metadata"]["name"], ports) & RESERVED_ENV
            assert not clash, (filename, clash)
        if manifest["kind"] == "Deployment" and manifest["metadata"]["name"].startswith("mindie-ms-"):
            assert manifest["spec"]["template"]["spec"]["enableServiceLinks"] is False, filename


# --- settings rules --------------------------------------------------------------------------


def settings_error(stack: str, **extra) -> str:
    config = stack_config(stack)
    config.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    with pytest.raises(SettingsError) as info:
        load_settings(config.get, list(config), secret_keys(stack))
    return str(info.value)


def test_algorithm_is_a_closed_set():
    message = settings_error(
        "staging", **{"mindie:motor": {"image": IMAGE, "coordinator": {"algorithm_type": "lru"}}}
    )
    assert (
        "mindie:motor.coordinator.algorithm_type = 'lru': must be one of 'cache_affinity' or 'round_robin'"
        in message
    )


def test_seed_fixed_values_are_not_settings():
    message = settings_error(
        "staging", **{"mindie:motor": {"image": IMAGE, "coordinator": {"scheduler_type": "digs_scheduler"}}}
    )
    assert "mindie:motor.coordinator.scheduler_type: unknown key" in message


def test_cache_affinity_needs_the_coordinator_entry():
    motor = {"enabled": True, "image": IMAGE, "coordinator": {"algorithm_type": "cache_affinity"}}
    message = settings_error("dev", **{"mindie:motor": motor})
    assert (
        "mindie:motor.coordinator.algorithm_type = 'cache_affinity': needs mindie:entry coordinator"
        in message
    )


def test_coordinator_entry_cannot_disable_motor():
    message = settings_error("staging", **{"mindie:motor": {"enabled": False, "image": IMAGE}})
    assert "mindie:motor.enabled = false: mindie:entry is coordinator" in message


def test_deployed_motor_needs_an_image():
    message = settings_error(
        "staging", **{"mindie:motor": {"coordinator": {"algorithm_type": "round_robin"}}}
    )
    assert (
        "mindie:motor.image: required setting is missing (Motor is deployed: mindie:entry is coordinator)"
        in message
    )


def test_motor_settings_without_a_motor_are_reported():
    message = settings_error("dev", **{"mindie:motor": {"image": IMAGE}})
    assert "mindie:motor: set but Motor is not deployed (mindie:entry is server)" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"coordinator": {"ports": {"status": 1025}}}, "predict and status are both 1025"),
        (
            {
                "controller": {
                    "resources": {
                        "cpu_request": 4000,
                        "memory_request": 2048,
                        "cpu_limit": 1000,
                        "memory_limit": 4096,
                    }
                }
            },
            "cpu_limit 1000 is below cpu_request 4000",
        ),
        ({"controller": {"state_storage": {"size": "1G"}}}, 'must be a storage size like "1Gi"'),
        ({"image": "mindie"}, "must be an image reference with an explicit tag or digest"),
        (
            {"coordinator": {"liveness_probe": {"timeout_seconds": 601}}},
            "timeout_seconds = 601: out of range",
        ),
        ({"coordinator": {"slots_thresh": 1.5}}, "slots_thresh = 1.5"),
    ],
)
def test_motor_field_rules(change, expected):
    motor = {"image": IMAGE, **change}
    assert expected in settings_error("staging", **{"mindie:motor": motor})


def test_prefix_cache_rule():
    affinity = MotorSettings.model_validate(
        {"image": IMAGE, "coordinator": {"algorithm_type": "cache_affinity"}}
    )
    robin = MotorSettings.model_validate({"image": IMAGE})
    assert prefix_cache_required(True, affinity) is True
    assert prefix_cache_required(True, robin) is False
    assert prefix_cache_required(False, robin) is False
    assert (
        prefix_cache_mismatch(True, False)
        and "needs prefix cache on the servers" in prefix_cache_mismatch(True, False)[0]
    )
    assert prefix_cache_mismatch(True, None) == [] and prefix_cache_mismatch(True, True) == []
    assert prefix_cache_mismatch(False, True) == []  # prefix cache without affinity is allowed


@pytest.mark.parametrize(("stack", "expected"), [("dev", False), ("staging", True), ("prod", True)])
def test_compose_exports_prefix_cache(run_stack, stack, expected):
    assert run_stack(stack).outputs["prefixCache"] is expected


def test_motor_npu_values_are_the_servers_node_labels():
    from domain.kubernetes import accelerator
    from stacks.settings.infer_server import NpuType
    from stacks.settings.motor import NPU_NODE_LABEL, NPU_NODE_VALUES

    assert NPU_NODE_LABEL == "accelerator"
    assert sorted(NPU_NODE_VALUES) == sorted(accelerator(t) for t in NpuType)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_committed_stacks_keep_motor_off_npu_nodes(stack):
    config = stack_config(stack)
    motor = load_settings(config.get, list(config), secret_keys(stack)).motor
    assert motor.avoid_npu_nodes is True
    assert "accelerator" not in motor.coordinator.node_selector
    assert "accelerator" not in motor.controller.node_selector


def test_npu_node_selector_contradicts_avoid_npu_nodes():
    motor = {"image": IMAGE, "controller": {"node_selector": {"accelerator": "huawei-Ascend910"}}}
    message = settings_error("staging", **{"mindie:motor": motor})
    assert "controller.node_selector.accelerator = 'huawei-Ascend910': selects NPU nodes" in message
    assert "set avoid_npu_nodes: false" in message


def test_avoid_npu_nodes_off_keeps_the_users_selector(run_stack):
    motor = {
        "image": IMAGE,
        "avoid_npu_nodes": False,
        "coordinator": {"node_selector": {"kubernetes.io/hostname": "ubuntu10"}},
    }
    files = manifests(run_stack("staging", overrides={"mindie:motor": motor}))
    pod = files[COORDINATOR]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": "ubuntu10"}
    assert "affinity" not in pod


# --- URNs: the Motor split keeps an existing stack's resources (aliases) ------------------

BASELINE_URNS = Path(__file__).parent / "data" / "baseline_urns.json"
"""Every URN of the committed stacks before Motor was split into Coordinator, Controller and
RanktableWriter (from the previews' resources.json of the unchanged program)."""


def alias_urn(monitor, request, alias) -> str:
    """The URN an alias of a registration names: a full URN, or a spec whose unset parts are the
    resource's own (what the engine computes)."""
    if alias.WhichOneof("alias") == "urn":
        return alias.urn
    spec = alias.spec
    parent = "" if spec.noParent else (spec.parentUrn or request.parent)
    return monitor.make_urn(parent, spec.type or request.type, spec.name or request.name)


@pytest.fixture
def aliases_of(monkeypatch) -> dict[str, list[str]]:
    """URN -> the URNs of its aliases, for every resource the runs in this test register
    (mindiectl's monitor records no aliases; this one does, from the registration requests)."""
    from mindiectl import runtime

    found: dict[str, list[str]] = {}

    class AliasRecordingMonitor(runtime.RecordingMonitor):
        def RegisterResource(self, request):  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            found[response.urn] = [alias_urn(self, request, a) for a in request.aliases]
            return response

    monkeypatch.setattr(runtime, "RecordingMonitor", AliasRecordingMonitor)
    return found


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_committed_stack_urns_are_unchanged_or_aliased(stack, aliases_of, session_state):
    from mindiectl import stackfile
    from mindiectl.runtime import run_program

    cfg = stackfile.load(stack)
    result = run_program(stack, dict(cfg.config), cfg.secret_keys, session_state(stack))
    urns = {r.urn for r in result.resources}
    claimed: dict[str, str] = {}
    for urn in urns:
        for old in aliases_of.get(urn, []):
            assert old not in claimed, f"{old} is an alias of both {claimed[old]} and {urn}"
            claimed[old] = urn
    baseline = json.loads(BASELINE_URNS.read_text())[stack]
    lost = [urn for urn in baseline if urn not in urns and urn not in claimed]
    assert lost == [], f"{stack}: resources an update would replace (neither kept nor aliased): {lost}"
    moved = {old: new for old, new in claimed.items() if old in baseline}
    if stack != "dev":  # dev runs no Motor
        assert len(moved) == 10 and all(":mindie:motor:Motor$" in old for old in moved), moved


def test_motor_components_import_nothing_from_stacks():
    """The components take plain args: settings are mapped in stacks/composition/motor.py."""
    import ast

    package = Path(__file__).parent.parent / "components" / "motor"
    found = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "stacks"]
    assert found == []
