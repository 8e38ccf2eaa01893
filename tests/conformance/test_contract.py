"""MindIE's start-up contract (mindiectl/conformance.py) on every committed stack, and one mutation per rule.

Each mutation breaks the generated objects the way a regression would (a key removed, a file mounted
straight from its ConfigMap, a client certificate from the wrong CA, ...) and asserts that the suite
fails naming that rule. `test_every_rule_has_a_mutation` keeps the list complete.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import pytest

from mindiectl import conformance, stackfile
from mindiectl.conformance import RULES, SPECS, lookup
from mindiectl.runtime import run_program

STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def stacks(session_state) -> dict[str, list[dict]]:
    found = {}
    for stack in STACKS:
        cfg = stackfile.load(stack)
        result = run_program(stack, dict(cfg.config), cfg.secret_keys, session_state(stack))
        found[stack] = conformance.manifests_of(result)
    return found


def rules_of(manifests: list[dict], tls_matrix: bool = False) -> dict[str, list[conformance.Violation]]:
    found: dict[str, list[conformance.Violation]] = {}
    for v in conformance.check(manifests, tls_matrix=tls_matrix):
        found.setdefault(v.rule, []).append(v)
    return found


def obj(manifests: list[dict], kind: str, name: str) -> dict:
    (found,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def pod(manifests: list[dict], name: str) -> dict:
    return obj(manifests, "Deployment", name)["spec"]["template"]["spec"]


def edit_json(manifests: list[dict], cm: str, key: str, change) -> None:
    m = obj(manifests, "ConfigMap", cm)
    data = json.loads(m["data"][key])
    change(data)
    m["data"][key] = json.dumps(data)


def mutated(stacks, stack: str = "staging") -> list[dict]:
    return copy.deepcopy(stacks[stack])


# ------------------------------------------------------------------ the committed stacks pass


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_meets_the_contract(stacks, stack):
    assert conformance.check(stacks[stack]) == []


def test_tls_matrix_covers_every_connection(stacks):
    cells = conformance.tls_cells(stacks["staging"])
    assert all(state == "ok" for *_, state in cells), cells
    pairs = {(client, server) for client, server, _ in cells}
    # Both server groups, every port a client of this deployment calls, both directions checked per cell.
    for group in ("mindie-server", "mindie-server-310p"):
        assert ("coordinator mindie_client_tls_items", f"{group} infer port") in pairs
        assert ("coordinator mindie_mangment_tls_items", f"{group} management port") in pairs
        assert ("controller request_server_tls_items", f"{group} management port") in pairs
        assert ("controller request_server_tls_items", f"{group} metrics port") in pairs
        assert ("ms-server client_mindie_tls_items", f"{group} management port") in pairs
        assert (f"Deployment mindie/{group} http_client_ctl", f"{group} management port") in pairs
    assert ("controller request_coordinator_tls_items", "coordinator manage port") in pairs
    assert ("Deployment mindie/mindie-ms-coordinator http_client_ctl", "coordinator status port") in pairs
    assert ("Deployment mindie/mindie-ms-controller http_client_ctl", "controller port") in pairs


def test_check_command_fails_naming_file_key_and_rule(stacks, monkeypatch, capsys):
    """`mindiectl check` turns a violation into a mandatory finding naming the file, key and rule."""
    from mindiectl import check

    broken = mutated(stacks)
    edit_json(
        broken, "mindie-ms-coordinator-config", "ms_coordinator.json", lambda d: d.pop("string_token_rate")
    )
    monkeypatch.setattr(conformance, "manifests_of", lambda result: broken)
    (finding,) = check.contract_findings(None)
    assert finding.rule == "mindie-contract:ms_coordinator.json:string_token_rate"
    assert finding.level == "mandatory"
    assert "container coordinator: /mnt/mindie/conf/ms_coordinator.json" in finding.resource
    assert finding.message.startswith("string_token_rate: missing")
    assert "Configure.cpp Configure::ReadStrTokenRateConfig" in finding.message


# ------------------------------------------------------------------ one mutation per JSON key rule

FILES = {
    # file -> (stack, ConfigMap, key) holding it
    "config.json": ("staging", "mindie-server-config", "config.json"),
    "ms_coordinator.json": ("staging", "mindie-ms-coordinator-config", "ms_coordinator.json"),
    "ms_controller.json": ("staging", "mindie-ms-controller-config", "ms_controller.json"),
    "http_client_ctl.json": ("staging", "mindie-server-config", "http_client_ctl.json"),
    "ms_server.json": ("staging", "ms-server-config", "ms_server.json"),
}


def _drop(data, path: str) -> None:
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node.pop(int(last))
    else:
        node.pop(last)


@pytest.mark.parametrize("file", sorted(FILES))
def test_removing_any_required_key_fails_naming_it(stacks, file):
    stack, cm, key = FILES[file]
    original = json.loads(obj(stacks[stack], "ConfigMap", cm)["data"][key])
    checked = 0
    for spec in SPECS:
        if spec.file != file or (spec.when is not None and not spec.when(original)):
            continue
        if lookup(original, spec.path) is conformance._MISSING:
            continue  # a key of a branch this file does not take (e.g. an unused scheduler's)
        broken = mutated(stacks, stack)
        edit_json(broken, cm, key, lambda d, p=spec.path: _drop(d, p))
        found = rules_of(broken)
        assert spec.rule_id in found, f"removing {spec.path} from {file} went unnoticed"
        assert any(v.path == spec.path for v in found[spec.rule_id])
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize(
    ("file", "path", "value", "rule"),
    [
        ("ms_coordinator.json", "string_token_rate", 0.5, "ms_coordinator.json:string_token_rate"),
        (
            "ms_coordinator.json",
            "http_config.predict_port",
            "80",
            "ms_coordinator.json:http_config.predict_port",
        ),
        ("ms_controller.json", "node_manager_port", 70000, "ms_controller.json:node_manager_port"),
        ("ms_controller.json", "transfer_type", "H2D", "ms_controller.json:transfer_type"),
        (
            "config.json",
            "ServerConfig.distDPServerEnabled",
            None,
            "config.json:ServerConfig.distDPServerEnabled",
        ),
        (
            "config.json",
            "ServerConfig.metricsTlsCaFile",
            ["a", "b", "c", "d"],
            "config.json:ServerConfig.metricsTlsCaFile",
        ),
        (
            "config.json",
            "BackendConfig.ScheduleConfig.maxQueueDelayMicroseconds",
            100,
            "config.json:BackendConfig.ScheduleConfig.maxQueueDelayMicroseconds",
        ),
    ],
)
def test_wrong_type_or_range_fails_naming_it(stacks, file, path, value, rule):
    stack, cm, key = FILES[file]
    broken = mutated(stacks, stack)

    def change(d):
        *parents, last = path.split(".")
        node = d
        for part in parents:
            node = node[part]
        node[last] = value

    edit_json(broken, cm, key, change)
    assert rule in rules_of(broken)


# ------------------------------------------------------------------ files, probes, TLS, consistency


def _cover(rule: str, found: dict) -> list[conformance.Violation]:
    assert rule in found, sorted(found)
    return found[rule]


def test_config_mounted_straight_from_the_configmap(stacks):
    broken = mutated(stacks)
    spec = pod(broken, "mindie-ms-controller")
    main = spec["containers"][0]
    main["volumeMounts"] = [m for m in main["volumeMounts"] if m["mountPath"] != "/mnt/mindie/conf"]
    main["volumeMounts"].append({"name": "config", "mountPath": "/mnt/mindie/conf", "readOnly": True})
    (v, *_) = _cover("file.staged-copy", rules_of(broken))
    assert "read straight from a projected volume" in v.message and v.path.endswith("ms_controller.json")


def test_staged_key_too_open_or_other_uid(stacks):
    broken = mutated(stacks)
    init = pod(broken, "mindie-server")["initContainers"][0]
    init["command"][-1] = init["command"][-1].replace(
        "install -D -m 0400 /mnt/source/mindieserver/cert.key.pem",
        "install -D -m 0644 /mnt/source/mindieserver/cert.key.pem",
    )
    found = _cover("file.staged-copy", rules_of(broken))
    assert any("mode 0644" in v.message and v.path.endswith("server.key.pem") for v in found)
    broken = mutated(stacks)
    pod(broken, "mindie-ms-coordinator")["initContainers"][0]["securityContext"]["runAsUser"] = 0
    found = _cover("file.staged-copy", rules_of(broken))
    assert any("copied as uid 0" in v.message for v in found)


def test_motor_path_outside_the_accepted_form(stacks):
    broken = mutated(stacks)
    edit_json(
        broken,
        "mindie-ms-coordinator-config",
        "ms_coordinator.json",
        lambda d: d["tls_config"]["status_tls_items"].update(
            ca_cert="/mnt/mindie/security/self/../self/ca/ca.pem"
        ),
    )
    _cover("file.path-form", rules_of(broken))


def test_server_tls_file_outside_the_home(stacks):
    broken = mutated(stacks)
    edit_json(
        broken,
        "mindie-server-config",
        "config.json",
        lambda d: d["ServerConfig"].update(tlsCert="../../tmp/server.pem"),
    )
    _cover("file.under-home", rules_of(broken))


def test_probe_without_the_deployer_exports(stacks):
    broken = mutated(stacks)
    main = pod(broken, "mindie-server")["containers"][0]
    cmd = main["readinessProbe"]["exec"]["command"]
    cmd[-1] = re.sub(r"export [^;]*;", "", cmd[-1])
    found = _cover("probe.exports", rules_of(broken))
    assert {v.path for v in found} >= {"readinessProbe: HSECEASY_PATH", "readinessProbe: LD_LIBRARY_PATH"}


def test_probe_config_not_staged(stacks):
    broken = mutated(stacks)
    init = pod(broken, "mindie-server")["initContainers"][0]
    init["command"][-1] = "\n".join(
        line for line in init["command"][-1].splitlines() if "http_client_ctl.json" not in line
    )
    _cover("probe.client-config", rules_of(broken))


def _swap_secret(manifests, identity: str, key: str, value: str) -> None:
    obj(manifests, "Secret", f"mindie-tls-{identity}")["stringData"][key] = value


def test_management_client_issued_by_the_business_ca(stacks):
    """The bug of issue 11: mindieclient (business CA) presented to the management port."""
    broken = mutated(stacks)
    business = obj(broken, "Secret", "mindie-tls-mindieclient")["stringData"]
    _swap_secret(broken, "mindieclient-mgmt", "cert.pem", business["cert.pem"])
    found = _cover("tls.client-verifies", rules_of(broken, tls_matrix=True))
    assert any("management port" in v.file for v in found)
    assert all("infer port" not in v.file for v in found)


def test_client_trusting_the_wrong_ca(stacks):
    broken = mutated(stacks)
    business = obj(broken, "Secret", "mindie-tls-mindieclient")["stringData"]
    _swap_secret(broken, "mindieclient-mgmt", "ca.pem", business["ca.pem"])
    found = _cover("tls.server-verifies", rules_of(broken, tls_matrix=True))
    assert any("against the client's ca_cert" in v.message for v in found)


def test_server_key_encrypted(stacks):
    broken = mutated(stacks)
    encrypted = obj(broken, "Secret", "mindie-tls-coordinator")["stringData"]["cert.key.pem"]
    _swap_secret(broken, "mindieserver", "cert.key.pem", encrypted)
    _cover("tls.server-key-unencrypted", rules_of(broken))


def test_motor_password_file_that_does_not_open_the_key(stacks):
    broken = mutated(stacks)
    _swap_secret(broken, "coordinator", "key_pwd.txt", "not-the-passphrase")
    found = _cover("tls.motor-passwd", rules_of(broken))
    assert "not-the-passphrase" not in str(found)  # never a secret value in a message


def test_kmc_key_store_keys(stacks):
    broken = mutated(stacks)
    edit_json(
        broken,
        "ms-server-config",
        "ms_server.json",
        lambda d: d["server_tls_items"].update(kmcKsfMaster="./tools/pmt/master/ksfa"),
    )
    (v,) = _cover("kmc.absent", rules_of(broken))
    assert v.path == "server_tls_items.kmcKsfMaster"


def test_deployer_tls_switch_differs(stacks):
    broken = mutated(stacks)
    edit_json(
        broken,
        "ms-server-config",
        "ms_server.json",
        lambda d: d.update(client_mindie_server_tls_enable=False),
    )
    _cover("deployer.tls-consistency", rules_of(broken))


def test_servers_outside_the_deployer_namespace(stacks):
    broken = mutated(stacks)
    obj(broken, "Deployment", "mindie-server")["metadata"]["namespace"] = "inference"
    _cover("deployer.namespace", rules_of(broken))


def test_ring_controller_not_the_device(stacks):
    broken = mutated(stacks)
    d = obj(broken, "Deployment", "mindie-server-310p")
    d["spec"]["template"]["metadata"]["labels"]["ring-controller.atlas"] = "ascend-910b"
    _cover("hardware.ring-controller", rules_of(broken))


def test_310p_group_on_the_800i_a2_image(stacks):
    broken = mutated(stacks)
    main = pod(broken, "mindie-server-310p")["containers"][0]
    main["image"] = main["image"].replace("300I-Duo", "800I-A2")
    _cover("hardware.image-variant", rules_of(broken))


def test_motor_from_another_repository(stacks):
    broken = mutated(stacks)
    main = pod(broken, "mindie-ms-coordinator")["containers"][0]
    main["image"] = (
        "swr.cn-south-1.myhuaweicloud.com/ascendhub/mindie:2.0.RC1-800I-A2-py311-openeuler24.03-lts"
    )
    _cover("image.one-repository", rules_of(broken))


def test_npu_pod_without_the_device_group(stacks):
    broken = mutated(stacks, "dev")
    pod(broken, "mindie-server")["securityContext"].pop("supplementalGroups")
    _cover("npu.device-group", rules_of(broken))


@pytest.mark.parametrize("ids", [[[0, 0, 1, 2, 3, 4, 5, 6]], [[8, 9, 10, 11, 12, 13, 14, 15]], [[0, 1]]])
def test_npu_device_ids(stacks, ids):
    broken = mutated(stacks)
    edit_json(
        broken, "mindie-server-config", "config.json", lambda d: d["BackendConfig"].update(npuDeviceIds=ids)
    )
    _cover("npu.device-ids", rules_of(broken))


def test_start_without_the_model_check(stacks):
    broken = mutated(stacks)
    cm = obj(broken, "ConfigMap", "mindie-server-config")
    cm["data"]["run.sh"] = "\n".join(x for x in cm["data"]["run.sh"].splitlines() if "model_dir" not in x)
    _cover("model.ownership-check", rules_of(broken))


def test_metrics_port_open_to_everyone(stacks):
    broken = mutated(stacks)
    policy = obj(broken, "NetworkPolicy", "mindie-server-ingress")
    policy["spec"]["ingress"].append({"ports": [{"port": 1027, "protocol": "TCP"}]})
    _cover("metrics.network-policy", rules_of(broken))


def _rules_with_a_mutation(stacks) -> set[str]:
    """The rules some test of this module breaks: a `_cover("<rule>", ...)` call, or a key the removal
    test drops. Read from this file, not collected at run time: the tests run on several workers, in
    any order."""
    tree = ast.parse(Path(__file__).read_text())
    covered = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "_cover"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    for file, (stack, cm, key) in FILES.items():
        original = json.loads(obj(stacks[stack], "ConfigMap", cm)["data"][key])
        covered |= {
            s.rule_id
            for s in SPECS
            if s.file == file
            and (s.when is None or s.when(original))
            and lookup(original, s.path) is not conformance._MISSING
        }
    return covered


def test_every_rule_has_a_mutation(stacks):
    """Every rule of the suite is made to fail by some test of this module."""
    missing = sorted(set(RULES) - _rules_with_a_mutation(stacks))
    # Key rules of branches no committed stack takes are covered by the value mutations instead.
    untaken = {s.rule_id for s in SPECS if s.when is not None}
    assert [r for r in missing if r not in untaken] == []


def test_contract_doc_table_is_generated_and_complete():
    from mindiectl.docs import CONTRACT, contract

    text = CONTRACT.read_text()
    assert contract(text) == text, "run `python -m mindiectl docs`"
    for rule in RULES:
        assert f"| `{rule}` |" in text
