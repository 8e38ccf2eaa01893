"""The policy pack and the program agree: what the pack refuses the settings refuse, and the seed's
constants the pack checks (from `domain`) are what the program generates."""

from __future__ import annotations

import copy
import json
import re

import pytest
from pydantic import BaseModel, ValidationError

from components.rbac import SEED_RULES
from domain.host_paths import ASCEND_DRIVER_PATHS, FORBIDDEN_HOST_PATHS, RUNTIME_PATHS
from domain.kubernetes import (
    COMPONENT_LABEL,
    ENVIRONMENT_LABEL,
    ENVIRONMENTS,
    MINDIE_WORKLOADS,
    NODE_PORT_RANGE,
    NPU_RESOURCES,
    NPU_TYPES,
)
from domain.pki import INTERMEDIATE_SUBJECT
from domain.probes import INIT_DELAY, PROBE_FAILURE_THRESHOLD, PROBE_TIMEOUT
from domain.rbac import MS_ROLE_NAME, MS_ROLE_RULES
from domain.tls_switches import TLS_SWITCHES, UNUSED_CHANNELS, UNUSED_COMPONENT_PREFIXES
from policy.rules import by_name
from stacks.settings.infer_server import InferServer, NpuType
from stacks.settings.ms_server import HostPaths
from stacks.settings.servers import ExtraGroup, HostPathVolume
from stacks.settings.stack import Environment

from .helpers import stack_config
from .policy_fixtures import DEPLOYMENT, deployment, resource_violations

# --- host paths: the policy's refusals are the settings' refusals -------------------------------

REFUSED = (
    *FORBIDDEN_HOST_PATHS,
    *RUNTIME_PATHS,
    *(f"{p}/mindie" for p in FORBIDDEN_HOST_PATHS + RUNTIME_PATHS),
    "/",
    "/data/mindie/agent.sock",  # a socket anywhere
    "/data/../etc",  # not normalized
    "//etc",  # a leading "//" that POSIX normpath keeps: the kubelet mounts /etc
    "//var/lib/kubelet/pods",
    "data/models",  # not absolute
)


def policy_refuses(path: str) -> bool:
    props = deployment()
    props["spec"]["template"]["spec"]["volumes"].append(
        {"name": "h", "hostPath": {"path": path, "type": "Directory"}}
    )
    return resource_violations("hostpath-forbidden", DEPLOYMENT, props) != []


def refused_field(model: type[BaseModel], field: str, path: str) -> tuple:
    """The location of the error constructing `model` with `field` = path (() if it is accepted)."""
    try:
        model(**{field: path})
    except ValidationError as e:
        return e.errors()[0]["loc"]
    return ()


@pytest.mark.parametrize("path", REFUSED)
def test_settings_refuse_every_host_path_the_policy_refuses(path):
    assert policy_refuses(path)
    assert refused_field(HostPathVolume, "path", path) == ("path",), "mindie:servers hostPath"
    assert refused_field(HostPaths, "logs", path) == ("logs",), "mindie:msServer.storage.host_paths"


@pytest.mark.parametrize("path", ["/mnt/mindie-service/ms/model", "/data/models", "/var/lib/mindie-ms"])
def test_a_dedicated_directory_passes_both(path):
    assert not policy_refuses(path)
    assert refused_field(HostPathVolume, "path", path) == ()
    assert refused_field(HostPaths, "logs", path) == ()


def test_the_ascend_driver_mounts_the_settings_allow_pass_the_policy_read_only_only(run_stack):
    """`servers.mountDriverFromHost: true` (no Ascend Docker Runtime) is accepted by the settings, so the
    pack admits exactly those driver paths, read-only; the same path mounted writable is refused."""
    servers = json.loads(stack_config("dev")["mindie:servers"])
    result = run_stack("dev", {"mindie:servers": {**servers, "mountDriverFromHost": True}})
    (server,) = [d for d in result.by_type(DEPLOYMENT) if d.inputs["metadata"]["name"] == "mindie-server"]
    props = copy.deepcopy(server.inputs)
    driver = [v for v in props["spec"]["template"]["spec"]["volumes"] if "hostPath" in v]
    assert {(v["hostPath"]["path"], v["hostPath"]["type"]) for v in driver} >= set(ASCEND_DRIVER_PATHS)
    assert resource_violations("hostpath-forbidden", DEPLOYMENT, props) == []
    for container in props["spec"]["template"]["spec"]["containers"]:
        for mount in container.get("volumeMounts", []):
            mount.pop("readOnly", None)
    refused = resource_violations("hostpath-forbidden", DEPLOYMENT, props)
    assert any("/etc/ascend_install.info" in r for r in refused), refused


# --- seed constants: what the policy checks is what the program writes ---------------------------


def bounds(model: type[BaseModel], field: str) -> tuple[int, int]:
    schema = model.model_json_schema()["properties"][field]
    schema = next((s for s in schema.get("anyOf", []) if "minimum" in s), schema)
    return schema["minimum"], schema["maximum"]


def test_node_port_and_probe_ranges_are_the_settings_ranges():
    assert bounds(InferServer, "service_port") == NODE_PORT_RANGE
    assert bounds(ExtraGroup, "service_port") == NODE_PORT_RANGE
    assert bounds(InferServer, "init_delay") == INIT_DELAY
    for probe in ("liveness", "readiness"):
        assert bounds(InferServer, f"{probe}_timeout") == PROBE_TIMEOUT
        assert bounds(InferServer, f"{probe}_failure_threshold") == PROBE_FAILURE_THRESHOLD


def test_npu_types_and_environments_are_the_settings_values():
    assert tuple(n.value for n in NpuType) == NPU_TYPES
    assert tuple(e.value for e in Environment) == ENVIRONMENTS


def test_component_constants_are_the_domain_ones():
    assert SEED_RULES == MS_ROLE_RULES


def manifests(result, kind: str) -> list[dict]:
    return [
        r.inputs for r in result.resources if r.type.startswith("kubernetes:") and r.type.endswith(f":{kind}")
    ]


def test_rendered_ms_role_is_the_seeds(run_stack):
    (role,) = [
        m for m in manifests(run_stack("prod"), "ClusterRole") if m["metadata"]["name"] == MS_ROLE_NAME
    ]
    rendered = tuple(
        (g, r, tuple(rule["verbs"]))
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    )
    assert rendered == MS_ROLE_RULES


def test_rendered_intermediate_subject_is_the_seeds(run_stack):
    (csr,) = [
        r for r in run_stack("prod").by_type("tls:index/certRequest:CertRequest") if "intermediate" in r.name
    ]
    assert csr.inputs["subject"] == INTERMEDIATE_SUBJECT


def test_rendered_workloads_npus_and_node_ports(run_stack):
    result = run_stack("prod")
    deployments = manifests(result, "Deployment")
    assert {d["metadata"]["labels"][COMPONENT_LABEL] for d in deployments} == set(MINDIE_WORKLOADS)
    npus = {
        key
        for d in deployments
        for c in d["spec"]["template"]["spec"]["containers"]
        for key in c.get("resources", {}).get("limits", {})
        if key.startswith("huawei.com/")
    }
    assert npus and npus <= set(NPU_RESOURCES)
    lo, hi = NODE_PORT_RANGE
    node_ports = [
        p["nodePort"] for s in manifests(result, "Service") for p in s["spec"]["ports"] if "nodePort" in p
    ]
    assert node_ports and all(lo <= p <= hi for p in node_ports)
    (namespace,) = manifests(result, "Namespace")
    assert namespace["metadata"]["labels"][ENVIRONMENT_LABEL] == "prod"


SWITCH = re.compile(r".*(tls_?enabled?|TLSEnabled|https_?enabled|enable_?tls)", re.IGNORECASE)


def switches(value, found: set[str]) -> set[str]:
    """Boolean keys named like a TLS switch, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, bool) and SWITCH.fullmatch(key):
                found.add(key)
            switches(item, found)
    elif isinstance(value, list):
        for item in value:
            switches(item, found)
    return found


def test_every_tls_switch_the_program_writes_is_known_to_the_policy(run_stack):
    found: set[str] = set()
    for cm in manifests(run_stack("prod"), "ConfigMap"):
        for key, text in (cm.get("data") or {}).items():
            if key.endswith(".json"):
                switches(json.loads(text), found)
    unknown = {
        k for k in found - TLS_SWITCHES - set(UNUSED_CHANNELS) if not k.startswith(UNUSED_COMPONENT_PREFIXES)
    }
    assert found & TLS_SWITCHES and unknown == set()


def test_ms_role_rule_describes_the_domain_table():
    described = dict(re.findall(r"(\w+) ([a-z/]+)[;.]", by_name("rbac-ms-role-verbs").description))
    assert {res: set(verbs.split("/")) for res, verbs in described.items()} == {
        res: set(verbs) for _, res, verbs in MS_ROLE_RULES
    }


def test_policy_resolves_rollout_bounds_as_the_settings_plan_them():
    from policy.rules.access import percent_or_int
    from stacks.settings.rollout import surge_pods, unavailable_pods

    for replicas in range(1, 21):
        for p in range(101):
            assert percent_or_int(f"{p}%", replicas, True) == surge_pods(replicas, f"{p}%"), (replicas, p)
            assert percent_or_int(f"{p}%", replicas, False) == unavailable_pods(replicas, f"{p}%")
