"""NetworkPolicies (components/network.py): only deployed components, the ms-server's msctl sources."""

from __future__ import annotations

import pytest

from mindiectl.schema import schema_errors

from .helpers import DELETE
from .test_ms_server import load_error, load_ok, with_ms

NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def policies(result) -> dict[str, dict]:
    """component label -> its ingress NetworkPolicy (egress, default-deny: test_security_defaults)."""
    return {
        r.inputs["metadata"]["labels"]["app.kubernetes.io/component"]: r.inputs
        for r in result.by_type(NETPOL)
        if r.inputs["spec"]["policyTypes"] == ["Ingress"]
    }


def selects(policy: dict) -> dict:
    return policy["spec"]["podSelector"]["matchLabels"]


def test_dev_declares_policies_only_for_deployed_components(run_stack):
    result = run_stack("dev")
    found = policies(result)
    # dev: entry server, no Motor: no coordinator/controller policy selecting nothing.
    assert sorted(found) == ["ms-server", "server"]
    server = found["server"]
    assert server["spec"]["ingress"] == [
        {
            "from": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/component": "ms-server",
                            "app.kubernetes.io/part-of": "mindie",
                        }
                    }
                }
            ]
        },
        {"ports": [{"port": 1025, "protocol": "TCP"}]},
    ]
    assert result.outputs["networkPolicies"] == [
        "mindie-ms-server-ingress",
        "mindie-server-ingress",
        "mindie-default-deny",
        "mindie-dns-egress",
        "mindie-ms-server-egress",
    ]
    for policy in found.values():
        assert schema_errors(policy) == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_coordinator_stacks_protect_all_four(run_stack, stack):
    found = policies(run_stack(stack))
    assert sorted(found) == ["controller", "coordinator", "ms-server", "server"]
    sources = [
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in found["server"]["spec"]["ingress"][0]["from"]
    ]
    assert sources == ["controller", "coordinator", "ms-server"]


def test_ms_server_policy_admits_msctl_from_the_management_node_on_its_port(run_stack):
    ms = policies(run_stack("dev"))["ms-server"]
    assert selects(ms) == {"app.kubernetes.io/component": "ms-server", "app.kubernetes.io/part-of": "mindie"}
    assert ms["spec"]["policyTypes"] == ["Ingress"]
    # Default source: k8s_apiserver_ip (the management node where the seed runs msctl), /32.
    assert ms["spec"]["ingress"] == [
        {"from": [{"ipBlock": {"cidr": "192.168.10.11/32"}}], "ports": [{"port": 9789, "protocol": "TCP"}]}
    ]
    assert ms["metadata"]["name"] == "mindie-ms-server-ingress"


def test_ms_server_policy_follows_settings(run_stack):
    overrides = with_ms(
        "dev", port=9800, msctl={"source_cidrs": ["10.0.5.0/24"], "source_namespaces": ["ops", "admin"]}
    )
    ms = policies(run_stack("dev", overrides=overrides))["ms-server"]
    assert ms["spec"]["ingress"] == [
        {
            "from": [
                {"ipBlock": {"cidr": "10.0.5.0/24"}},
                {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/metadata.name",
                                "operator": "In",
                                "values": ["admin", "ops"],
                            }
                        ]
                    }
                },
            ],
            "ports": [{"port": 9800, "protocol": "TCP"}],
        }
    ]
    assert schema_errors(ms) == []


def test_ms_server_no_sources_denies_all_ingress(run_stack):
    ms = policies(run_stack("dev", overrides=with_ms("dev", msctl={"source_cidrs": []})))["ms-server"]
    assert ms["spec"]["ingress"] == []
    assert ms["spec"]["policyTypes"] == ["Ingress"]


def test_no_ms_server_no_policy_and_no_peer(run_stack):
    found = policies(run_stack("dev", overrides={"mindie:msServer": DELETE}))
    assert sorted(found) == ["server"]
    # No ms-server deployed: it is no longer a source of the servers' policy.
    assert found["server"]["spec"]["ingress"] == [{"ports": [{"port": 1025, "protocol": "TCP"}]}]


def test_source_cidr_validation():
    assert load_ok("dev").msctl_source_cidrs == ["192.168.10.11/32"]
    assert load_ok("dev", msctl={"source_cidrs": ["fd00::/64"]}).msctl_source_cidrs == ["fd00::/64"]
    message = load_error("dev", msctl={"source_cidrs": ["0.0.0.0/0"]})
    assert "mindie:msServer.msctl.source_cidrs[0] = '0.0.0.0/0'" in message
    assert "must not admit every address" in message
    assert "no host bits set" in load_error("dev", msctl={"source_cidrs": ["10.0.0.1/24"]})
    assert "DNS-1123" in load_error("dev", msctl={"source_namespaces": ["Ops"]})
