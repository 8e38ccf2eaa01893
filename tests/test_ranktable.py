"""The global rank table: the writer's pure construction, its sidecar, RBAC and token, and the policy."""

from __future__ import annotations

import copy
import io
import json
import os
import stat
from pathlib import Path

import pytest

from components.motor.files import RANKTABLE_FILE, TOKEN_DIR
from components.motor.ranktable_writer import WRITER_CONTAINER, WRITER_SCRIPT
from components.scripts import ranktable_writer as rw
from mindiectl.render import manifests
from mindiectl.schema import schema_errors
from policy.rules import ResourceContext, by_name

from .test_motor import IMAGE, settings_error

CONTROLLER = "deployment.mindie.mindie-ms-controller.yaml"
COORDINATOR = "deployment.mindie.mindie-ms-coordinator.yaml"
SERVICE_ACCOUNT = "serviceaccount.mindie.mindie-ms-controller.yaml"
ROLE = "role.mindie.mindie-ms-controller-pod-reader.yaml"
BINDING = "rolebinding.mindie.mindie-ms-controller-pod-reader.yaml"
WRITER_CM = "configmap.mindie.mindie-ms-ranktable-writer.yaml"
SERVER_LIST_CM = "configmap.mindie.mindie-ms-server-list.yaml"
NEW_OBJECTS = (SERVICE_ACCOUNT, ROLE, BINDING, WRITER_CM)

COORDINATOR_SELECTOR = {
    "app.kubernetes.io/name": "mindie-ms-coordinator",
    "app.kubernetes.io/instance": "mindie-ms-coordinator",
}
MAIN = {"app.kubernetes.io/name": "mindie-server", "app.kubernetes.io/instance": "mindie-server"}
SMALL = {"app.kubernetes.io/name": "mindie-server-310p", "app.kubernetes.io/instance": "mindie-server-310p"}
SERVER_LIST = {
    "deploy_mode": "single_node",
    "server_count": 3,
    "groups": [
        {
            "group": "mindie-server",
            "replicas": 2,
            "selector": MAIN,
            "infer_port": 1025,
            "management_port": 1026,
        },
        {
            "group": "mindie-server-310p",
            "replicas": 1,
            "selector": SMALL,
            "infer_port": 2025,
            "management_port": 2026,
        },
    ],
}


def pod(name, labels, ip="10.0.0.1", host="192.168.0.1", phase="Running", ready=True, **meta):
    return {
        "metadata": {"name": name, "labels": dict(labels), **meta},
        "status": {
            "phase": phase,
            "podIP": ip,
            "hostIP": host,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def cluster(**changes) -> list[dict]:
    pods = {
        "b": pod("mindie-server-7b-b", MAIN, ip="10.0.1.2", host="192.168.0.11"),
        "a": pod("mindie-server-7b-a", MAIN, ip="10.0.1.1", host="192.168.0.10"),
        "s": pod("mindie-server-310p-9c-x", SMALL, ip="10.0.2.1", host="192.168.0.12"),
        "coord": pod("mindie-ms-coordinator-6b-l", COORDINATOR_SELECTOR, ip="10.0.3.1", host="192.168.0.20"),
        "other": pod("unrelated", {"app": "x"}, ip="10.0.9.9"),
    }
    for key, value in changes.items():
        if value is None:
            pods.pop(key)
        else:
            pods[key] = value
    return list(pods.values())


def table(pods, controller_ip="10.0.4.1", node_ip="192.168.0.20"):
    return rw.build_ranktable(SERVER_LIST, pods, controller_ip, COORDINATOR_SELECTOR, node_ip)


def group(result: dict, group_id: str) -> dict:
    (found,) = [g for g in result["server_group_list"] if g["group_id"] == group_id]
    return found


# --- the pure construction -------------------------------------------------------------------


def test_completed_table_has_mindie_s_shape():
    result = table(cluster())
    assert result["version"] == "1.0" and result["status"] == "completed"
    # MindIE's order and ids: 2 servers, 1 controller, 0 coordinator; counts are strings
    assert [g["group_id"] for g in result["server_group_list"]] == ["2", "1", "0"]
    assert [g["server_count"] for g in result["server_group_list"]] == ["3", "1", "1"]
    servers = group(result, "2")["server_list"]
    # declared group order, then pod name within a group (a stable, byte-identical output)
    assert [s["server_ip"] for s in servers] == ["10.0.1.1", "10.0.1.2", "10.0.2.1"]
    assert servers[0] == {
        "server_id": "192.168.0.10",
        "server_ip": "10.0.1.1",
        "predict_port": "1025",
        "mgmt_port": "1026",
    }
    assert (servers[2]["predict_port"], servers[2]["mgmt_port"]) == ("2025", "2026")
    assert group(result, "1")["server_list"] == [{"server_id": "192.168.0.20", "server_ip": "10.0.4.1"}]
    assert group(result, "0")["server_list"] == [{"server_id": "192.168.0.20", "server_ip": "10.0.3.1"}]


@pytest.mark.parametrize(
    "change",
    [
        {"a": pod("mindie-server-7b-a", MAIN, ready=False)},  # not Ready
        {"a": pod("mindie-server-7b-a", MAIN, phase="Pending", ip="")},  # not scheduled
        {"a": pod("mindie-server-7b-a", MAIN, deletionTimestamp="2025-01-01T00:00:00Z")},  # terminating
        {"s": None},  # a whole group missing
        {"coord": None},  # no coordinator
        {"coord": pod("mindie-ms-coordinator-6b-l", COORDINATOR_SELECTOR, phase="Pending", ip="")},
    ],
)
def test_initializing_until_every_expected_pod_is_there(change):
    result = table(cluster(**change))
    assert result["status"] == "initializing"
    # what is known is still written (the controller logs "status of ranktable is not completed")
    assert all(s["server_ip"] for s in group(result, "2")["server_list"])


def test_not_ready_pods_are_left_out_and_counted():
    result = table(cluster(a=pod("mindie-server-7b-a", MAIN, ip="10.0.1.1", ready=False)))
    servers = group(result, "2")
    assert servers["server_count"] == "2"
    assert "10.0.1.1" not in [s["server_ip"] for s in servers["server_list"]]


def test_no_controller_ip_is_initializing_without_group_1():
    result = table(cluster(), controller_ip=None)
    assert result["status"] == "initializing"
    assert [g["group_id"] for g in result["server_group_list"]] == ["2", "0"]


def test_coordinator_needs_an_ip_not_readiness():
    # its readiness waits for the controller, which waits for this table: no deadlock
    coord = pod("mindie-ms-coordinator-6b-l", COORDINATOR_SELECTOR, ip="10.0.3.1", ready=False)
    assert table(cluster(coord=coord))["status"] == "completed"


def test_a_rollout_lists_surge_pods_and_prefers_the_ready_coordinator():
    surge = pod("mindie-server-7b-c", MAIN, ip="10.0.1.3")
    old = pod(
        "mindie-ms-coordinator-5a-z",
        COORDINATOR_SELECTOR,
        ip="10.0.3.9",
        ready=False,
        creationTimestamp="2025-02-01T00:00:00Z",
    )
    result = table([*cluster(), surge, old])
    assert result["status"] == "completed"
    assert group(result, "2")["server_count"] == "4"
    assert group(result, "0")["server_list"][0]["server_ip"] == "10.0.3.1"


def test_devices_come_from_the_ascend_device_plugin_annotation():
    devices = {
        "pod_name": "a",
        "server_id": "192.168.0.10",
        "devices": [{"device_id": "4", "device_ip": "29.0.0.4"}, {"device_id": "5", "device_ip": "29.0.0.5"}],
    }
    annotated = pod(
        "mindie-server-7b-a", MAIN, ip="10.0.1.1", annotations={rw.DEVICE_ANNOTATION: json.dumps(devices)}
    )
    entry = group(table(cluster(a=annotated)), "2")["server_list"][0]
    assert entry["device"] == [
        {"device_id": "4", "device_ip": "29.0.0.4", "device_logical_id": "0", "rank_id": "0"},
        {"device_id": "5", "device_ip": "29.0.0.5", "device_logical_id": "1", "rank_id": "1"},
    ]
    broken = pod("mindie-server-7b-a", MAIN, ip="10.0.1.1", annotations={rw.DEVICE_ANNOTATION: "{not json"})
    assert "device" not in group(table(cluster(a=broken)), "2")["server_list"][0]


def test_selector_semantics():
    assert rw.selector_matches(MAIN, {**MAIN, "pod-template-hash": "7b"})
    assert not rw.selector_matches(MAIN, {"app.kubernetes.io/name": "mindie-server"})
    assert not rw.selector_matches({}, MAIN)  # an empty selector selects nothing, not everything
    assert not rw.selector_matches(MAIN, None)


def test_render_is_stable():
    pods = cluster()
    assert rw.render(table(pods)) == rw.render(table(list(reversed(pods))))
    assert rw.render(table(pods)).endswith("}\n")


# --- the runtime pieces, offline ---------------------------------------------------------------


def test_write_atomic(tmp_path):
    path = str(tmp_path / "global_ranktable.json")
    assert rw.write_atomic(path, "one\n") is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert rw.write_atomic(path, "one\n") is False  # unchanged: no rewrite, no event for the controller
    assert rw.write_atomic(path, "two\n") is True
    assert Path(path).read_text() == "two\n"
    assert sorted(os.listdir(tmp_path)) == ["global_ranktable.json"]  # no temporary file left


class _Body(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_api_lists_and_watches_the_namespace_pods(tmp_path, monkeypatch):
    calls = []
    api = rw.Api({"token_path": str(tmp_path / "token"), "namespace": "mindie", "ca_path": None})

    def fake_get(path, query, timeout):
        calls.append((path, dict(query)))
        if query.get("watch"):
            return _Body(b'{"type":"MODIFIED","object":{}}\n')
        return _Body(json.dumps({"metadata": {"resourceVersion": "42"}, "items": cluster()}).encode())

    monkeypatch.setattr(api, "_get", fake_get)
    pods, version = api.list_pods()
    assert version == "42" and len(pods) == 5
    assert api.wait_for_change(version, 30) is True
    assert calls == [
        ("/api/v1/namespaces/mindie/pods", {}),
        (
            "/api/v1/namespaces/mindie/pods",
            {"watch": "1", "resourceVersion": "42", "timeoutSeconds": "30", "allowWatchBookmarks": "false"},
        ),
    ]


# --- the manifests --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def staging(session_state):
    from mindiectl import stackfile
    from mindiectl.runtime import run_program

    cfg = stackfile.load("staging")
    return manifests(run_program("staging", dict(cfg.config), cfg.secret_keys, session_state("staging")))


def pod_spec(files):
    return files[CONTROLLER]["spec"]["template"]["spec"]


def containers(files):
    return {c["name"]: c for c in pod_spec(files)["containers"]}


def test_new_objects_pass_strict_schema(staging):
    for name in (*NEW_OBJECTS, CONTROLLER):
        assert schema_errors(staging[name]) == [], name


def test_role_reads_pods_of_the_namespace_and_nothing_else(staging):
    role = staging[ROLE]
    assert role["metadata"]["namespace"] == "mindie"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    binding = staging[BINDING]
    assert binding["metadata"]["namespace"] == "mindie"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "mindie-ms-controller-pod-reader",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "mindie-ms-controller", "namespace": "mindie"}
    ]
    # nothing cluster-wide names the writer's account
    for name, manifest in staging.items():
        if manifest["kind"] in ("ClusterRoleBinding",):
            assert all(s.get("name") != "mindie-ms-controller" for s in manifest.get("subjects", [])), name
    account = staging[SERVICE_ACCOUNT]
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["labels"]["app.kubernetes.io/component"] == "controller"


def test_token_is_projected_into_the_writer_only(staging):
    spec = pod_spec(staging)
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "mindie-ms-controller"
    volumes = {v["name"]: v for v in spec["volumes"]}
    sources = volumes["kube-api-access"]["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    token_volumes = [n for n, v in volumes.items() if "serviceAccountToken" in json.dumps(v)]
    assert token_volumes == ["kube-api-access"]
    by_name_ = containers(staging)
    assert list(by_name_) == ["controller", WRITER_CONTAINER]
    mounts = {name: {m["name"]: m for m in c["volumeMounts"]} for name, c in by_name_.items()}
    assert "kube-api-access" not in mounts["controller"]
    assert mounts[WRITER_CONTAINER]["kube-api-access"] == {
        "name": "kube-api-access",
        "mountPath": TOKEN_DIR,
        "readOnly": True,
    }
    # both share the rank-table directory; the writer sees no certificate, config or state
    assert (
        mounts["controller"]["ranktable"]["mountPath"] == mounts[WRITER_CONTAINER]["ranktable"]["mountPath"]
    )
    # (+ its own heartbeat emptyDir, read by its probes)
    assert set(mounts[WRITER_CONTAINER]) == {
        "ranktable-writer",
        "ranktable",
        "kube-api-access",
        "ranktable-writer-health",
    }
    env = {e["name"]: e.get("value") for e in by_name_["controller"]["env"]}
    assert env["GLOBAL_RANK_TABLE_FILE_PATH"] == RANKTABLE_FILE


def test_writer_container_follows_the_security_standard(staging):
    writer = containers(staging)[WRITER_CONTAINER]
    controller = containers(staging)["controller"]
    sc = writer["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # same UID/GID as the controller: MindIE checks the owner of the file it reads
    assert (sc["runAsUser"], sc["runAsGroup"]) == (
        controller["securityContext"]["runAsUser"],
        controller["securityContext"]["runAsGroup"],
    )
    assert writer["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    assert writer["image"] == controller["image"]  # default: the controller's image (has python3)
    assert writer["command"] == [
        "python3",
        "/mnt/mindie/ranktable-writer/ranktable_writer.py",
        "/mnt/mindie/ranktable-writer/writer.json",
    ]
    env = {e["name"]: e for e in writer["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def test_writer_configmap_ships_the_tested_file(staging):
    data = staging[WRITER_CM]["data"]
    assert data["ranktable_writer.py"] == WRITER_SCRIPT == Path(rw.__file__).read_text(encoding="utf-8")
    config = json.loads(data["writer.json"])
    assert config == {
        "namespace": "mindie",
        "coordinator_selector": COORDINATOR_SELECTOR,
        "server_list_path": "/mnt/mindie/ranktable-writer/server_list.json",
        "output_path": "/mnt/mindie/ranktable/global_ranktable.json",
        "refresh_seconds": 30,
        "token_path": f"{TOKEN_DIR}/token",
        "ca_path": f"{TOKEN_DIR}/ca.crt",
        "health_dir": "/mnt/mindie/ranktable-writer-health",
    }
    # the selector it uses is the coordinator Deployment's
    assert staging[COORDINATOR]["spec"]["selector"]["matchLabels"] == COORDINATOR_SELECTOR
    # it reads the same declared server list the controller mounts
    volumes = {v["name"]: v for v in pod_spec(staging)["volumes"]}
    names = [s["configMap"]["name"] for s in volumes["ranktable-writer"]["projected"]["sources"]]
    assert names == ["mindie-ms-ranktable-writer", "mindie-ms-ranktable-writer", "mindie-ms-server-list"]


def test_the_declared_server_list_builds_a_table(staging):
    """The writer's input as declared for staging, with pods as the servers' selectors would match."""
    server_list = json.loads(staging[SERVER_LIST_CM]["data"]["server_list.json"])
    pods = [
        pod(f"{g['group']}-{i}", {**g["selector"], "pod-template-hash": "x"}, ip=f"10.1.{n}.{i}")
        for n, g in enumerate(server_list["groups"])
        for i in range(g["replicas"])
    ]
    pods.append(pod("coordinator", COORDINATOR_SELECTOR, ip="10.2.0.1"))
    result = rw.build_ranktable(server_list, pods, "10.3.0.1", COORDINATOR_SELECTOR)
    assert result["status"] == "completed"
    assert group(result, "2")["server_count"] == str(server_list["server_count"])


def test_writer_settings_roll_the_controller_only(run_stack, staging):
    motor = {
        "image": IMAGE,
        "coordinator": {"algorithm_type": "cache_affinity"},
        "controller": {
            "ranktable_writer": {
                "refresh_seconds": 10,
                "token_expiration_seconds": 600,
                "image": "python:3.11.9-slim",
            }
        },
    }
    files = manifests(run_stack("staging", overrides={"mindie:motor": motor}))
    assert json.loads(files[WRITER_CM]["data"]["writer.json"])["refresh_seconds"] == 10
    key = "checksum/config"
    before, after = (
        f[CONTROLLER]["spec"]["template"]["metadata"]["annotations"][key] for f in (staging, files)
    )
    assert before != after
    assert containers(files)[WRITER_CONTAINER]["image"] == "python:3.11.9-slim"
    volumes = {v["name"]: v for v in pod_spec(files)["volumes"]}
    assert (
        volumes["kube-api-access"]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"]
        == 600
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"refresh_seconds": 1}, "ranktable_writer.refresh_seconds = 1: out of range"),
        ({"token_expiration_seconds": 300}, "ranktable_writer.token_expiration_seconds = 300: out of range"),
        ({"image": "python"}, "must be an image reference with an explicit tag or digest"),
    ],
)
def test_writer_setting_rules(change, expected):
    motor = {"image": IMAGE, "controller": {"ranktable_writer": change}}
    assert expected in settings_error("staging", **{"mindie:motor": motor})


# --- the policy: a projected token is an API credential ------------------------------------------


RULE = by_name("workload-service-account-token")
ALLOWED = {"apiClientComponents": [], "tokenProjections": {"controller": [WRITER_CONTAINER]}}


def check(manifest, config=ALLOWED):
    return RULE.check_resource(manifest, ResourceContext(type="kubernetes:apps/v1:Deployment", config=config))


def test_policy_allows_the_writer_as_declared(staging):
    assert check(staging[CONTROLLER]) == []
    assert check(staging[COORDINATOR]) == []


def test_policy_sees_projected_tokens(staging):
    manifest = staging[CONTROLLER]
    assert any("not listed in tokenProjections" in p for p in check(manifest, {"apiClientComponents": []}))

    leaky = copy.deepcopy(manifest)
    leaky["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].append(
        {"name": "kube-api-access", "mountPath": "/var/run/secrets/x", "readOnly": True}
    )
    assert any("containers[controller]: mounts the token volume" in p for p in check(leaky))

    default_account = copy.deepcopy(manifest)
    del default_account["spec"]["template"]["spec"]["serviceAccountName"]
    assert any("default ServiceAccount" in p for p in check(default_account))

    automount = copy.deepcopy(manifest)
    automount["spec"]["template"]["spec"]["automountServiceAccountToken"] = True
    assert any("automountServiceAccountToken is True" in p for p in check(automount))


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_policy_configs_allow_exactly_the_writer(env):
    config = json.loads(Path(f"policy/{env}.json").read_text())["workload-service-account-token"]
    assert config["apiClientComponents"] == []
    assert config["tokenProjections"] == {"controller": [WRITER_CONTAINER]}
