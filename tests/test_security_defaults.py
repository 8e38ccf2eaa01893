"""Issue 17: secure defaults in the manifests (digests in prod, probes everywhere, default-deny
network, accepted scanner findings annotated with their reason)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from mindiectl.schema import schema_errors
from stacks.composition import accepted_findings
from tests.helpers import stack_config
from tests.test_injection import problems

NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


_PROD: list = []


def prod(run_stack):
    """The committed prod stack's run, once per module (a run takes seconds)."""
    if not _PROD:
        _PROD.append(run_stack("prod"))
    return _PROD[0]


def by_name(result, type_token: str) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in result.by_type(type_token)}


def containers(deployment: dict) -> dict[str, dict]:
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}


# --------------------------------------------------------------------------- image digests


def test_prod_refuses_images_by_tag_and_dev_accepts_them():
    tag = "registry.example.com/mindie/mindie-nonroot:2.3.0"  # the servers' and Motor's one repository
    for setting in ("mindie:servers.image", "mindie:motor.image", "mindie:msServer.image.reference"):
        text = problems("prod", {setting: tag})
        assert f"{setting.removeprefix('mindie:')} = '{tag}': prod runs images pinned by digest" in text
    assert problems("dev", {"mindie:servers.image": tag}) == ""


def test_committed_prod_images_carry_a_labelled_demo_digest():
    text = (Path(__file__).resolve().parent.parent / "Pulumi.prod.yaml").read_text()
    assert len(re.findall(r"@sha256:[0-9a-f]{64}", text)) == 3 and text.count("DEMO digest") == 3


def test_digest_policy_is_mandatory_in_prod_only(run_stack):
    from mindiectl.check import check

    servers = json.loads(stack_config("dev")["mindie:servers"])
    servers["image"] = "registry.example.com/mindie/mindie:2.0"  # a tag: dev may run it
    result = run_stack("dev", {"mindie:servers": servers})  # the dev policy config disables the rule
    assert not [f for f in check(result).findings if f.rule == "workload-image-digest"]
    prod_report = check(result, environment="prod")
    found = [f for f in prod_report.findings if f.rule == "workload-image-digest"]
    assert found and all(f.level == "mandatory" for f in found)
    assert "is not pinned by digest" in found[0].message


# --------------------------------------------------------------------------- probes


def test_every_long_running_container_has_liveness_and_readiness(run_stack):
    result = prod(run_stack)
    deployments = by_name(result, DEPLOYMENT)
    ms = containers(deployments["ms-server"])["mindie-ms"]
    assert ms["readinessProbe"]["tcpSocket"]["port"] == 9789
    assert ms["livenessProbe"]["tcpSocket"]["port"] == 9789
    writer = containers(deployments["mindie-ms-controller"])["ranktable-writer"]
    assert writer["readinessProbe"]["exec"]["command"][:2] == ["python3", "-c"]
    assert writer["livenessProbe"]["exec"]["command"][3] == "/mnt/mindie/ranktable-writer-health/alive"
    mounts = {m["name"]: m["mountPath"] for m in writer["volumeMounts"]}
    assert mounts["ranktable-writer-health"] == "/mnt/mindie/ranktable-writer-health"
    for name, deployment in deployments.items():
        for cname, c in containers(deployment).items():
            accepted = deployment["metadata"].get("annotations", {})
            skipped = {v.split("=", 1)[0] for k, v in accepted.items() if k.startswith("checkov.io/skip")}
            assert "livenessProbe" in c or "CKV_K8S_8" in skipped, (name, cname)
            assert "readinessProbe" in c or "CKV_K8S_9" in skipped, (name, cname)


def test_writer_heartbeat_probe_fails_when_stale(tmp_path: Path):
    import subprocess
    import sys

    from components.motor.ranktable_writer import writer_probe
    from components.scripts import ranktable_writer

    ranktable_writer.heartbeat({"health_dir": str(tmp_path)}, "alive")
    probe = writer_probe("alive", 60, period_seconds=10)
    command = list(probe.exec_.command)
    command[0] = sys.executable
    command[3] = str(tmp_path / "alive")
    assert subprocess.run(command).returncode == 0
    old = time.time() - 120
    os.utime(tmp_path / "alive", (old, old))
    assert subprocess.run(command).returncode == 1
    command[3] = str(tmp_path / "missing")
    assert subprocess.run(command, capture_output=True).returncode == 1


# --------------------------------------------------------------------------- default-deny network


def test_namespace_is_default_deny_with_explicit_allows(run_stack):
    result = prod(run_stack)
    found = by_name(result, NETPOL)
    deny = found["mindie-default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = found["mindie-dns-egress"]["spec"]["egress"][0]
    assert {"port": 53, "protocol": "UDP"} in dns["ports"] and {"port": 53, "protocol": "TCP"} in dns["ports"]
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
    ms = found["mindie-ms-server-egress"]["spec"]["egress"]
    assert {
        "to": [{"ipBlock": {"cidr": "10.30.0.11/32"}}],
        "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
    } in ms
    controller = found["mindie-controller-egress"]["spec"]["egress"]
    assert any(rule.get("to") == [{"ipBlock": {"cidr": "10.30.0.11/32"}}] for rule in controller)
    coordinator = found["mindie-coordinator-egress"]["spec"]["egress"][0]["to"]
    targets = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in coordinator}
    assert targets == {"controller", "server"}
    assert "mindie-server-egress" not in found  # servers open no connection
    for policy in found.values():
        assert schema_errors(policy) == []


def test_coordinator_business_port_only_from_configured_sources(run_stack):
    ingress = by_name(prod(run_stack), NETPOL)["mindie-coordinator-ingress"]["spec"]["ingress"]
    entry = [rule for rule in ingress if "ports" in rule]
    assert entry == [
        {"from": [{"ipBlock": {"cidr": "10.30.8.0/24"}}], "ports": [{"port": 1025, "protocol": "TCP"}]}
    ]


def test_entry_sources_required_outside_dev():
    text = problems("prod", {"mindie:network": {}})
    assert "network.entrySources: required in prod" in text
    assert problems("prod", {"mindie:network": {"entrySources": ["10.0.0.1/8"]}})  # host bits set


# --------------------------------------------------------------------------- accepted findings


def test_accepted_findings_are_decided_per_workload():
    def pod(**kw):
        return {"spec": {"template": {"spec": {"securityContext": {"runAsUser": 1001}, **kw}}}}

    ro = {"readOnlyRootFilesystem": True}
    coordinator = pod(containers=[{"name": "coordinator", "securityContext": ro, "readinessProbe": {}}])
    assert accepted_findings.findings(coordinator, "prod") == ["CKV_K8S_40", "CKV_K8S_8"]
    assert accepted_findings.findings(coordinator, "dev") == [
        "CKV_K8S_15",
        "CKV_K8S_40",
        "CKV_K8S_43",
        "CKV_K8S_8",
    ]
    high = {
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {"runAsUser": 20000},
                    "containers": [
                        {"name": "x", "securityContext": ro, "livenessProbe": {}, "readinessProbe": {}}
                    ],
                }
            }
        }
    }
    assert accepted_findings.findings(high, "prod") == []
    writable = pod(containers=[{"name": "server", "livenessProbe": {}, "readinessProbe": {}}])
    assert "CKV_K8S_22" in accepted_findings.findings(writable, "prod")


def test_skip_reasons_parse_as_checkov_reads_them():
    # checkov: (id, comment) = annotation.split("="): a second "=" crashes the scan.
    for check, reason in accepted_findings.REASONS.items():
        assert "=" not in reason and check.startswith("CKV_K8S_")


def test_prod_manifests_carry_the_skip_annotations(run_stack):
    deployments = by_name(prod(run_stack), DEPLOYMENT)
    coordinator = deployments["mindie-ms-coordinator"]["metadata"]["annotations"]
    assert any(v.startswith("CKV_K8S_8=coordinator liveness is off") for v in coordinator.values())
    assert not any(
        v.startswith("CKV_K8S_43=")
        for d in deployments.values()
        for v in d["metadata"].get("annotations", {}).values()
    )
