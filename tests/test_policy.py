"""The policy rules: for each, a resource (or stack) that breaks it and one that passes.

Every evaluation goes through pulumi_policy's own types: ResourceValidationArgs /
StackValidationArgs with props wrapped in its unknown-checking proxy (Mapping /
Sequence, not dict/list), and the policies' validate functions.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from domain.host_paths import FORBIDDEN_HOST_PATHS
from policy.rules import FAMILIES, RULES, ResourceContext, by_name, forbidden_host_path, policies

from .policy_fixtures import (
    CLUSTERROLE,
    CONFIGMAP,
    DEPLOYMENT,
    KEY_PEM,
    LOCALLY_SIGNED,
    NPU,
    PRIVATE_KEY,
    SECRET,
    SERVICE,
    cluster_role,
    configmap,
    deployment,
    good_stack,
    resource_violations,
    service,
)


def container(props: dict) -> dict:
    return props["spec"]["template"]["spec"]["containers"][0]


def pod(props: dict) -> dict:
    return props["spec"]["template"]["spec"]


def ctx(props: dict) -> dict:
    return container(props)["securityContext"]


def add_volume(props: dict, volume: dict) -> None:
    pod(props)["volumes"].append(volume)


# (rule, resource type, base props factory, mutation that breaks it, text the message contains, config)


def pinned(props: dict) -> dict:
    """The fixture with every container's image pinned by digest."""
    for c in pod(props)["containers"]:
        c["image"] = c["image"] + "@sha256:" + "ab" * 32
    return props


RESOURCE_CASES: list[tuple[str, str, Callable[[], dict], Callable[[dict], Any], str, dict]] = [
    (
        "workload-non-root",
        DEPLOYMENT,
        deployment,
        lambda p: ctx(p).update(runAsUser=0.0),
        "runAsUser is 0",
        {},
    ),
    ("workload-non-root", DEPLOYMENT, deployment, lambda p: ctx(p).pop("runAsNonRoot"), "runAsNonRoot", {}),
    (
        "workload-non-root",
        DEPLOYMENT,
        deployment,
        lambda p: ctx(p).pop("runAsGroup"),
        "runAsGroup is not set",
        {},
    ),
    (
        "workload-no-privilege-escalation",
        DEPLOYMENT,
        deployment,
        lambda p: ctx(p).update(allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation is True",
        {},
    ),
    (
        "workload-drop-all-capabilities",
        DEPLOYMENT,
        deployment,
        lambda p: ctx(p).update(capabilities={"drop": ["NET_RAW"]}),
        "not [ALL]",
        {},
    ),
    (
        "workload-drop-all-capabilities",
        DEPLOYMENT,
        deployment,
        lambda p: ctx(p)["capabilities"].update(add=["SYS_ADMIN"]),
        "SYS_ADMIN",
        {},
    ),
    (
        "workload-seccomp",
        DEPLOYMENT,
        deployment,
        lambda p: pod(p)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "Unconfined",
        {},
    ),
    (
        "workload-not-privileged",
        DEPLOYMENT,
        deployment,
        lambda p: ctx(p).update(privileged=True),
        "privileged",
        {},
    ),
    (
        "workload-no-host-namespaces",
        DEPLOYMENT,
        deployment,
        lambda p: pod(p).update(hostNetwork=True),
        "hostNetwork",
        {},
    ),
    (
        "workload-no-host-namespaces",
        DEPLOYMENT,
        deployment,
        lambda p: pod(p).update(hostIPC=True),
        "hostIPC",
        {},
    ),
    (
        "workload-no-host-ports",
        DEPLOYMENT,
        deployment,
        lambda p: container(p)["ports"][0].update(hostPort=1025.0),
        "hostPort 1025",
        {},
    ),
    (
        "workload-read-only-root",
        DEPLOYMENT,
        deployment,
        lambda p: ctx(p).update(readOnlyRootFilesystem=False),
        "readOnlyRootFilesystem",
        {},
    ),
    (
        "workload-service-account-token",
        DEPLOYMENT,
        deployment,
        lambda p: pod(p).pop("automountServiceAccountToken"),
        "automountServiceAccountToken",
        {},
    ),
    (
        "workload-resources",
        DEPLOYMENT,
        deployment,
        lambda p: container(p)["resources"]["limits"].pop("memory"),
        "no resources.limits.memory",
        {},
    ),
    (
        "workload-image-pinned",
        DEPLOYMENT,
        deployment,
        lambda p: container(p).update(image="mindie:latest"),
        "latest",
        {},
    ),
    (
        "workload-image-pinned",
        DEPLOYMENT,
        deployment,
        lambda p: container(p).update(image="registry:5000/mindie"),
        "has no tag",
        {},
    ),
    (
        "workload-image-digest",
        DEPLOYMENT,
        lambda: pinned(deployment()),
        lambda p: container(p).update(image="registry.example.com/mindie:2.0.RC1"),
        "is not pinned by digest",
        {},
    ),
    (
        "workload-image-digest",
        DEPLOYMENT,
        lambda: pinned(deployment()),
        lambda p: container(p).update(image=container(p)["image"] + "\n"),  # full match, not `$`
        "is not pinned by digest",
        {},
    ),
    (
        "hostpath-forbidden",
        DEPLOYMENT,
        deployment,
        lambda p: add_volume(
            p, {"name": "h", "hostPath": {"path": "/home/user/models", "type": "Directory"}}
        ),
        "under /home",
        {},
    ),
    (
        "hostpath-forbidden",
        DEPLOYMENT,
        deployment,
        lambda p: add_volume(
            p, {"name": "s", "hostPath": {"path": "/run/containerd/containerd.sock", "type": "Socket"}}
        ),
        "/run",
        {},
    ),
    (
        "hostpath-type",
        DEPLOYMENT,
        deployment,
        lambda p: add_volume(p, {"name": "m", "hostPath": {"path": "/mnt/mindie-service/ms/model"}}),
        "no type",
        {},
    ),
    (
        "hostpath-volumes",
        DEPLOYMENT,
        deployment,
        lambda p: add_volume(p, {"name": "m", "hostPath": {"path": "/data/models", "type": "Directory"}}),
        "not in allowedHostPaths",
        {"allowedHostPaths": ["/mnt/mindie-service/ms"]},
    ),
    (
        "npu-request-equals-limit",
        DEPLOYMENT,
        deployment,
        lambda p: container(p)["resources"]["limits"].update({NPU: 4.0}),
        "request 8 != limit 4",
        {},
    ),
    (
        "npu-request-equals-limit",
        DEPLOYMENT,
        deployment,
        lambda p: container(p)["resources"]["requests"].pop(NPU),
        "both must be set",
        {},
    ),
    (
        "rollout-can-move",
        DEPLOYMENT,
        deployment,
        lambda p: p["spec"].update(
            replicas=1.0,
            strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "50%"}},
        ),
        "both resolve to 0",
        {},
    ),
    (
        "server-probes",
        DEPLOYMENT,
        deployment,
        lambda p: container(p).pop("livenessProbe"),
        "no livenessProbe",
        {},
    ),
    (
        "server-probe-ranges",
        DEPLOYMENT,
        deployment,
        lambda p: container(p)["livenessProbe"].update(timeoutSeconds=601.0),
        "timeoutSeconds = 601",
        {},
    ),
    (
        "server-probe-ranges",
        DEPLOYMENT,
        deployment,
        lambda p: container(p)["readinessProbe"].update(failureThreshold=11.0),
        "failureThreshold = 11",
        {},
    ),
    (
        "server-probe-ranges",
        DEPLOYMENT,
        deployment,
        lambda p: container(p)["startupProbe"].update(failureThreshold=1900.0),
        "startupProbe window 1900",
        {},
    ),
    (
        "service-no-load-balancer",
        SERVICE,
        lambda: service("server"),
        lambda p: p["spec"].update(type="LoadBalancer"),
        "LoadBalancer",
        {},
    ),
    (
        "service-node-port-range",
        SERVICE,
        lambda: service("server", "NodePort", 31005),
        lambda p: p["spec"]["ports"][0].update(nodePort=8080.0),
        "nodePort 8080",
        {},
    ),
    (
        "rbac-no-wildcards",
        CLUSTERROLE,
        cluster_role,
        lambda p: p["rules"][0].update(verbs=["*"]),
        "verbs contains '*'",
        {},
    ),
    (
        "rbac-no-wildcards",
        CLUSTERROLE,
        cluster_role,
        lambda p: p["rules"][1].update(resources=["*"]),
        "resources contains '*'",
        {},
    ),
    (
        "rbac-no-escalation",
        CLUSTERROLE,
        cluster_role,
        lambda p: p["rules"].append(
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["escalate"]}
        ),
        "escalate",
        {},
    ),
    (
        "rbac-ms-role-verbs",
        CLUSTERROLE,
        cluster_role,
        lambda p: p["rules"][1]["verbs"].append("delete"),
        "core/pods verbs ['delete']",
        {},
    ),
    (
        "rbac-ms-role-verbs",
        CLUSTERROLE,
        cluster_role,
        lambda p: p["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
        "core/secrets is not in the seed's table",
        {},
    ),
    (
        "tls-key-strength",
        PRIVATE_KEY,
        lambda: {"algorithm": "RSA", "rsaBits": 4096.0},
        lambda p: p.pop("rsaBits"),
        "2048 bits",
        {},
    ),
    (
        "tls-key-strength",
        PRIVATE_KEY,
        lambda: {"algorithm": "ECDSA", "ecdsaCurve": "P384"},
        lambda p: p.update(ecdsaCurve="P256"),
        "P256",
        {"allowEcdsa": True},
    ),
    (
        "tls-validity",
        LOCALLY_SIGNED,
        lambda: {"validityPeriodHours": 8760.0, "isCaCertificate": False},
        lambda p: p.update(validityPeriodHours=8761.0),
        "8761",
        {},
    ),
    (
        "secrets-key-material",
        CONFIGMAP,
        lambda: configmap({"a.json": "{}"}),
        lambda p: p["data"].update({"cert.key.pem": KEY_PEM}),
        "a private key in a ConfigMap",
        {},
    ),
    (
        "secrets-key-material",
        CONFIGMAP,
        lambda: configmap({"a.json": "{}"}),
        lambda p: p["data"].update({"key_pwd.txt": "Secret#123"}),
        "a passphrase in a ConfigMap",
        {},
    ),
    (
        "secrets-key-material",
        DEPLOYMENT,
        deployment,
        lambda p: container(p)["env"].append({"name": "KEY_PASSWORD", "value": "hunter2!A"}),
        "a passphrase",
        {},
    ),
    (
        "secrets-key-material",
        LOCALLY_SIGNED,
        lambda: {"caPrivateKeyPem": KEY_PEM, "validityPeriodHours": 1.0},
        lambda p: p.update(extraKey=KEY_PEM),
        "extraKey holds a private key but is not a Pulumi secret",
        {},
    ),
]


@pytest.mark.parametrize(
    "rule,type_,base,mutate,expected,config",
    RESOURCE_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(RESOURCE_CASES)],
)
def test_resource_rule_breaks_and_passes(rule, type_, base, mutate, expected, config):
    good = base()
    assert resource_violations(rule, type_, good, config) == []
    bad = copy.deepcopy(good)
    mutate(bad)
    found = resource_violations(rule, type_, bad, config)
    assert any(expected in m for m in found), found


def test_every_resource_rule_has_a_case():
    covered = {c[0] for c in RESOURCE_CASES} | set(STACK_CASES)
    assert covered == {r.name for r in RULES}


def test_rules_also_take_plain_dicts():
    props = deployment()
    ctx_ = ResourceContext(type=DEPLOYMENT)
    assert by_name("workload-non-root").check_resource(props, ctx_) == []
    ctx(props).update(runAsUser=0)
    assert by_name("workload-non-root").check_resource(props, ctx_) == [
        "containers[server]: runAsUser is 0 (root)"
    ]


def test_rule_ignores_other_types():
    assert resource_violations("rbac-no-wildcards", DEPLOYMENT, {"rules": [{"verbs": ["*"]}]}) == []


def test_secret_and_pulumi_secret_may_hold_keys():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": KEY_PEM}}
    assert resource_violations("secrets-key-material", SECRET, secret) == []
    dynamic = {"encryptedKey": KEY_PEM, "passphrase": "Passw0rd!"}
    found = resource_violations("secrets-key-material", "pulumi-python:dynamic:Resource", dynamic)
    assert len(found) == 2
    assert (
        resource_violations(
            "secrets-key-material",
            "pulumi-python:dynamic:Resource",
            dynamic,
            secret=["encryptedKey", "passphrase"],
        )
        == []
    )


def test_hostpath_allowed_prefix_and_default_mode():
    props = deployment()
    add_volume(
        props, {"name": "m", "hostPath": {"path": "/mnt/mindie-service/ms/model", "type": "Directory"}}
    )
    assert (
        resource_violations(
            "hostpath-volumes", DEPLOYMENT, props, {"allowedHostPaths": ["/mnt/mindie-service/ms"]}
        )
        == []
    )
    assert resource_violations("hostpath-volumes", DEPLOYMENT, props) != []  # nothing allowed by default


@pytest.mark.parametrize(
    "path,why",
    [
        ("/", "root directory"),
        ("/home", "under /home"),
        ("/etc/kubernetes", "under /etc"),
        ("/var/run/docker.sock", "under /var/run"),
        ("/var/lib/docker", "runtime"),
        ("/data/../etc", "normalized"),
        ("relative", "not absolute"),
        ("/proc/1", "under /proc"),
        ("/dev/davinci0", "under /dev"),
    ],
)
def test_forbidden_host_paths(path, why):
    assert why in (forbidden_host_path(path) or "")


@pytest.mark.parametrize(
    "path", ["/mnt/mindie-service/ms/model", "/var/log/mindie-ms", "/var/lib/mindie-ms", "/homework"]
)
def test_allowed_host_paths(path):
    assert forbidden_host_path(path) is None


def _set_tls_false(s):
    s.outputs["enableTls"] = False


def _cm_https_false(s):
    data = s.find("mindie-server-config")["data"]
    doc = json.loads(data["config.json"])
    doc["ServerConfig"]["httpsEnabled"] = False
    data["config.json"] = json.dumps(doc)


def _world_size(s):
    data = s.find("mindie-server-config")["data"]
    data["config.json"] = data["config.json"].replace('"worldSize": 8', '"worldSize": 4')


def _no_netpol(s):
    s.items = [i for i in s.items if i["name"] != "np-controller"]


def _open_netpol(s):
    s.find("np-coordinator")["spec"]["ingress"].append({})


def _no_ms_server_netpol(s):
    s.items = [i for i in s.items if i["name"] != "np-ms-server"]


def _open_ms_server_netpol(s):
    s.find("np-ms-server")["spec"]["ingress"][0]["from"] = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]


def _rollout_deadlock(s):
    d = s.find("mindie-server")
    d["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": "50%", "maxUnavailable": "0%"}


def _second_coordinator(s):
    s.add(
        DEPLOYMENT, "mindie-coordinator-2", deployment("coordinator", name="mindie-coordinator-2", npu=None)
    )


def _server_node_port(s):
    s.find("mindie-server-svc")["spec"].update(type="NodePort")


def _wrong_subject(s):
    s.find("ms-role-bind")["subjects"][0]["name"] = "admin"


def _intermediate_cn(s):
    s.find("ca-intermediate-csr")["subject"]["commonName"] = "intermediate"


def _env_mismatch(s):
    s.outputs["environment"] = "dev"


def _render_in_prod(s):
    s.find("prod-k8s")["renderYamlToDirectory"] = "out"


def _plain_key_output(s):
    s.outputs["intermediateKey"] = KEY_PEM


# rule -> list of (mutation of good_stack(), text the message contains)
STACK_CASES: dict[str, list[tuple[Callable, str]]] = {
    "tls-enabled": [
        (_set_tls_false, "stack output enableTls = False in prod"),
        (_cm_https_false, "httpsEnabled = False"),
    ],
    "npu-matches-config": [(_world_size, "worldSize = 4")],
    "rollout-fits-npu-inventory": [(_rollout_deadlock, "never completes")],
    "network-policies": [
        (_no_netpol, "no NetworkPolicy selects"),
        (_open_netpol, "admits every source"),
        (_no_ms_server_netpol, "mindie-ms-server (ms-server): no NetworkPolicy selects its pods"),
        (_open_ms_server_netpol, "but ms-server is not the entry"),
    ],
    "one-service-per-namespace": [(_second_coordinator, "2 coordinator objects")],
    "service-node-port-only-entry": [(_server_node_port, "the entry is coordinator")],
    "rbac-binding-subject": [(_wrong_subject, "expected exactly User:kubeclient")],
    "tls-intermediate-subject": [(_intermediate_cn, "CN=intermediate")],
    "environment-consistent": [
        (_env_mismatch, "declares environment 'dev'"),
        (_render_in_prod, "renders YAML in prod"),
    ],
    "secrets-stack-outputs": [(_plain_key_output, "intermediateKey holds a private key")],
}


@pytest.mark.parametrize(
    "rule,mutate,expected",
    [(rule, m, e) for rule, cases in STACK_CASES.items() for m, e in cases],
    ids=[f"{rule}-{i}" for rule, cases in STACK_CASES.items() for i, _ in enumerate(cases)],
)
def test_stack_rule_breaks_and_passes(rule, mutate, expected):
    assert good_stack().violations(rule) == []
    bad = good_stack()
    mutate(bad)
    found = bad.violations(rule)
    assert any(expected in m for m, _ in found), found


def test_tls_may_be_off_in_dev():
    s = good_stack("dev")
    _set_tls_false(s)
    assert s.violations("tls-enabled") == []


def test_entry_server_stack_passes_network_rules():
    s = good_stack("staging", entry="server")
    for rule in ("network-policies", "service-node-port-only-entry", "one-service-per-namespace"):
        assert s.violations(rule) == [], rule


def test_rollout_fits_when_unavailable_frees_npus():
    s = good_stack()
    s.outputs["npuInventory"] = {"Ascend910": {"nodes": 2.0, "chipsPerNode": 8.0}}
    assert (
        s.violations("rollout-fits-npu-inventory") == []
    )  # 2 x 8 chips, maxUnavailable 50%: 1 pod leaves first
    s.find("mindie-server")["spec"]["replicas"] = 3.0
    assert any("steady state" in m for m, _ in s.violations("rollout-fits-npu-inventory"))


def test_rollout_with_surge_fits_spare_capacity():
    s = good_stack()
    s.outputs["npuInventory"] = {"Ascend910": {"nodes": 3.0, "chipsPerNode": 8.0}}
    _rollout_deadlock(s)  # surge 1, unavailable 0: fine with a third node free
    assert s.violations("rollout-fits-npu-inventory") == []


def test_inventory_from_policy_config():
    s = good_stack()
    del s.outputs["npuInventory"]
    _rollout_deadlock(s)
    assert s.violations("rollout-fits-npu-inventory") == []  # nothing declared, nothing to check
    found = s.violations(
        "rollout-fits-npu-inventory", {"npuInventory": {"Ascend910": {"nodes": 2, "chipsPerNode": 8}}}
    )
    assert found


def test_npu_chip_num_mismatch_with_declared_group():
    s = good_stack()
    s.outputs["servers"][0]["npu_chip_num"] = 4.0
    assert any("npu_chip_num 4" in m for m, _ in s.violations("npu-matches-config"))


def test_pack_metadata():
    built = policies()
    names = [p.name for p in built]
    assert len(names) == len(set(names)) == len(RULES)
    for p, r in zip(built, RULES, strict=True):
        assert p.description and p.remediation_steps and p.enforcement_level is not None
        assert isinstance(p, ResourceValidationPolicy if r.scope == "resource" else StackValidationPolicy)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_policy_config_files(env, project_dir):
    config = json.loads((project_dir / "policy" / f"{env}.json").read_text())
    names = {r.name for r in RULES}
    assert set(config) - {"all"} <= names
    for _key, value in config.items():
        level = value if isinstance(value, str) else value["enforcementLevel"]
        EnforcementLevel(level)
    assert config["all"] == ("advisory" if env == "dev" else "mandatory")
    hostpath = config["hostpath-volumes"]["enforcementLevel"]
    assert hostpath == {"dev": "advisory", "staging": "advisory", "prod": "mandatory"}[env]


def test_pack_main_only_builds_the_pack(project_dir):
    text = (project_dir / "policy" / "__main__.py").read_text()
    assert "PolicyPack(" in text and "def " not in text
    assert (project_dir / "policy" / "PulumiPolicy.yaml").exists()
    assert "pulumi-policy==1.21.0" in (project_dir / "policy" / "requirements.txt").read_text()


def test_passphrase_keys_in_generated_json():
    def cm(value: str) -> dict:
        body = json.dumps(
            {"server_tls_items": {"tls_passwd": value, "tls_key": "security/keys/cert.key.pem"}}
        )
        return configmap({"ms_server.json": body})

    assert resource_violations("secrets-key-material", CONFIGMAP, cm("security/pass/key_pwd.txt")) == []
    found = resource_violations("secrets-key-material", CONFIGMAP, cm("Secret#12345"))
    assert found == ["data.ms_server.json:server_tls_items.tls_passwd holds a passphrase in a ConfigMap"]


def test_absent_channels_do_not_count_as_tls_off():
    s = good_stack()
    data = s.find("mindie-server-config")["data"]
    doc = json.loads(data["config.json"])
    doc["ServerConfig"]["interCommTLSEnabled"] = False  # no PD channel in single-node standard mode
    doc["etcd_server_tls_enable"] = False
    data["config.json"] = json.dumps(doc)
    assert s.violations("tls-enabled") == []


def test_rollout_against_planned_capacity_output():
    s = good_stack()
    del s.outputs["npuInventory"]
    s.outputs["rolloutPlan"] = [{"group": "mindie-server", "capacityPods": 2.0, "npuType": "Ascend910"}]
    assert s.violations("rollout-fits-npu-inventory") == []  # maxUnavailable 50% of 2: one pod leaves first
    _rollout_deadlock(s)
    assert any("cannot complete" in m for m, _ in s.violations("rollout-fits-npu-inventory"))
    s.outputs["rolloutPlan"][0]["capacityPods"] = 3.0  # room for the surge pod
    assert s.violations("rollout-fits-npu-inventory") == []


def test_self_signed_ca_validity_exception_is_explicit():
    root = {"isCaCertificate": True, "validityPeriodHours": 87600.0}
    assert resource_violations("tls-validity", "tls:index/selfSignedCert:SelfSignedCert", root)
    config = {"selfSignedCaMaxHours": 87600}
    assert resource_violations("tls-validity", "tls:index/selfSignedCert:SelfSignedCert", root, config) == []
    leaf = {"isCaCertificate": False, "validityPeriodHours": 87600.0}
    assert resource_violations("tls-validity", LOCALLY_SIGNED, leaf, config)  # issued certs: 365 days always


def test_intermediate_csr_by_name_and_external_kubeclient_cert():
    s = good_stack()
    s.items = [
        i for i in s.items if i["name"] != "ca-intermediate"
    ]  # signed elsewhere (e.g. a dynamic resource)
    assert s.violations("tls-intermediate-subject") == []
    _intermediate_cn(s)
    assert any("CN=intermediate" in m for m, _ in s.violations("tls-intermediate-subject"))
    s = good_stack()
    s.items = [i for i in s.items if i["name"] != "ca-kubeclient-csr"]
    s.find("ms-role-bind")["subjects"][0]["name"] = "someone"
    for item in s.items:
        item["deps"].pop("subjects", None)
    assert s.violations("rbac-binding-subject") == []  # issued outside the stack: nothing to compare


def test_pack_serves_every_policy_over_the_analyzer_protocol(project_dir):
    """Start policy/__main__.py as the Pulumi CLI does and ask it for its policies (GetAnalyzerInfo)."""
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    proc = subprocess.Popen(
        [sys.executable, "__main__.py"], cwd=project_dir / "policy", stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(proc.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert info.name == "mindie"
    assert {p.name for p in info.policies} == {r.name for r in RULES}
    assert all(p.remediation_steps for p in info.policies)


PACK_ORDER = """
workload-non-root workload-no-privilege-escalation workload-drop-all-capabilities workload-seccomp
workload-not-privileged workload-no-host-namespaces workload-no-host-ports workload-read-only-root
workload-service-account-token workload-resources workload-image-pinned workload-image-digest
hostpath-forbidden hostpath-type hostpath-volumes
npu-request-equals-limit rollout-can-move npu-matches-config rollout-fits-npu-inventory
server-probes server-probe-ranges
service-no-load-balancer service-node-port-range service-node-port-only-entry network-policies
rbac-no-wildcards rbac-no-escalation rbac-ms-role-verbs rbac-binding-subject
tls-enabled tls-intermediate-subject tls-key-strength tls-validity secrets-key-material secrets-stack-outputs
one-service-per-namespace environment-consistent
""".split()


def test_pack_order_is_by_family_and_stable(project_dir):
    """policies() keeps its order (the config files, the CLI's output and the docs follow it)."""
    assert [p.name for p in policies()] == [r.name for r in RULES] == PACK_ORDER
    families = [r.family for r in RULES]
    assert sorted(set(families), key=families.index) == list(FAMILIES)  # one block per family
    docs = (project_dir / "docs" / "policy.md").read_text()
    table = docs.split("## Rules", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\|[^|]*\| `([a-z0-9-]+)`", table, re.MULTILINE)) == set(PACK_ORDER)


def test_hostpath_rule_names_the_domain_paths():
    description = by_name("hostpath-forbidden").description
    assert all(f" {path}," in description for path in FORBIDDEN_HOST_PATHS)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    found |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module}
    return {name.split(".")[0] for name in found}


def test_pack_is_self_contained(project_dir):
    """The CrossGuard host has only policy/requirements.txt: the rules import the standard library,
    pulumi_policy, their own package (relative imports) and `domain`, which imports the standard
    library only."""
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for path in (project_dir / "policy" / "rules").glob("*.py"):
        assert _imports(path) <= allowed | {"pulumi_policy", "domain"}, path.name
    for path in (project_dir / "domain").glob("*.py"):
        assert _imports(path) <= allowed, path.name


def test_pack_imports_as_the_policy_host_does(project_dir):
    """`from rules import ...` with policy/ first on sys.path and the project root after it, as
    policy/__main__.py arranges (without building the pack, which would start its server)."""
    code = "import sys; sys.path[1:1] = ['..']; import rules; print(len(rules.policies()))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=project_dir / "policy", capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(len(RULES))
