"""MindIE Server instance groups: the seed's example previews into the Deployer's objects, field by field."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from domain.hashing import sha256_of_files as checksum
from mindiectl.__main__ import main
from mindiectl.render import integral, manifests
from mindiectl.runtime import run_program
from mindiectl.schema import schema_errors
from stacks.composition.server_files import config_files, config_json, run_sh
from stacks.settings.errors import SettingsError
from stacks.settings.servers import ModelSource, ServersSettings
from stacks.settings.stack import load_settings

from .helpers import DELETE, infer_server, match_image_to_npu, secret_keys, stack_config

SEED = Path(__file__).parent / "data" / "infer_server_seed.json"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
INSTALL = "/usr/local/Ascend/mindie/latest/mindie-service"


def seed_server(**changes) -> dict:
    """The seed's infer_server.json: missing comma fixed, memory brought into [1000, 256000]."""
    text = SEED.read_text().replace('"npu_fault_reschedule": true\n', '"npu_fault_reschedule": true,\n')
    body = json.loads(text)
    body["resource_requests"]["memory"] = 256000
    for key, value in changes.items():
        if key in ("npu_type", "npu_chip_num", "memory", "cpu_core"):
            body["resource_requests"][key] = value
        else:
            body[key] = value
    return body


NAMES = {DEPLOYMENT: "deployment", SERVICE: "service", CONFIG_MAP: "config", PDB: "pdb"}


def manifest(result, type_token: str, name: str | None = None) -> dict:
    """A server group's object (default: the first group's), by its Pulumi name."""
    if name is None and type_token in NAMES:
        name = f"mindie-server-{NAMES[type_token]}"
    return integral(result.one(type_token, name).inputs)


def container(deployment: dict) -> dict:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def env_of(c: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def settings_for(stack: str = "dev", server: dict | None = None, extra: dict | None = None):
    config = stack_config(stack)
    if server is not None:
        config["mindie:inferServer"] = json.dumps(server)
    if "mindie:servers" not in (extra or {}):
        config = match_image_to_npu(config)
    for key, value in (extra or {}).items():
        if value is DELETE:
            config.pop(key, None)
        else:
            config[key] = value if isinstance(value, str) else json.dumps(value)
    return load_settings(config.get, list(config), secret_keys(stack))


def error_of(stack: str = "dev", server: dict | None = None, extra: dict | None = None) -> str:
    with pytest.raises(SettingsError) as info:
        settings_for(stack, server, extra)
    return str(info.value)


# ------------------------------------------------------------------ the seed's example, field by field


@pytest.mark.parametrize("npu_type", ["Ascend910", "Ascend310P"])
@pytest.mark.parametrize("scheduler", ["default", "volcano"])
def test_seed_example_deployment(run_stack, npu_type, scheduler):
    result = run_stack("dev", {"mindie:inferServer": seed_server(npu_type=npu_type, scheduler=scheduler)})
    d = manifest(result, DEPLOYMENT)
    # Default device models: Ascend910 = Atlas 800I A2 (910B, MindCluster's ascend-910b), 310P = 300I Duo.
    ring = {"Ascend910": "ascend-910b", "Ascend310P": "ascend-310P"}[npu_type]

    assert d["metadata"]["name"] == "mindie-server"
    assert d["metadata"]["namespace"] == "mindie"
    assert d["metadata"]["labels"]["app"] == "mindie-server"
    assert d["metadata"]["labels"]["app.kubernetes.io/component"] == "server"
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["selector"] == {
        "matchLabels": {
            "app.kubernetes.io/name": "mindie-server",
            "app.kubernetes.io/instance": "mindie-server",
        }
    }
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": "50%"},
    }
    assert spec["progressDeadlineSeconds"] == 600

    template = spec["template"]
    labels = template["metadata"]["labels"]
    assert labels["app"] == "mindie-server"
    assert labels["app.kubernetes.io/component"] == "server"
    assert labels["ring-controller.atlas"] == ring
    assert labels["pod-rescheduling"] == "on"
    if scheduler == "volcano":
        assert labels["fault-scheduling"] == "grace"  # npu_fault_reschedule: true
    else:
        assert "fault-scheduling" not in labels
    assert set(spec["selector"]["matchLabels"].items()) <= set(labels.items())
    assert len(template["metadata"]["annotations"]["checksum/config"]) == 64
    # the CA component's checksum: the pods roll when certificates are re-issued
    assert template["metadata"]["annotations"]["checksum/tls"] == result.outputs["tlsChecksum"]

    pod = template["spec"]
    assert pod.get("schedulerName") == ("volcano" if scheduler == "volcano" else None)
    assert pod["nodeSelector"] == {"accelerator": f"huawei-{npu_type}"}
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1001,
        "runAsGroup": 1001,
        "fsGroup": 1001,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
        "supplementalGroups": [1000],  # HwHiAiUser: /dev/davinci*
    }

    c = container(d)
    assert c["name"] == "mindie-server"
    # the non-root image derived from the stock 2.3.0 image (the KMC-free line), in the NPU's variant,
    # pinned by (demo) digest
    variant = {"Ascend910": "800I-A2", "Ascend310P": "300I-Duo"}[npu_type]
    image = f"registry.example.com/mindie/mindie-nonroot:2.3.0-{variant}-py311-openeuler24.03-lts"
    assert c["image"].startswith(image + "@sha256:") and c["imagePullPolicy"] == "IfNotPresent"
    assert c["command"] == ["/bin/bash", "-c", "/mnt/mindie-service/ms/run/run.sh"]
    assert c["ports"][0] == {"name": "infer", "containerPort": 1025, "protocol": "TCP"}
    assert c["resources"] == {
        "requests": {f"huawei.com/{npu_type}": "8", "memory": "256000Mi", "cpu": "32000m"},
        "limits": {f"huawei.com/{npu_type}": "8", "memory": "256000Mi", "cpu": "32000m"},
    }
    env = env_of(c)
    assert env["HOST_IP"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["MIES_CONTAINER_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["MIES_CONTAINER_MANAGEMENT_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["MIES_CONFIG_JSON_PATH"] == "/mnt/mindie-service/ms/config/config.json"
    assert env["MIES_INSTALL_PATH"] == INSTALL
    assert env["MINDIE_USE_HTTPS"] == "true"
    if scheduler == "volcano":
        assert env["ASCEND_VISIBLE_DEVICES"] == {
            "fieldRef": {"fieldPath": f"metadata.annotations['huawei.com/{npu_type}']"}
        }
    else:
        assert "ASCEND_VISIBLE_DEVICES" not in env

    # The Deployer's SetProbe exports, the client config pointing at the staged copy.
    ctl = (
        "export HSECEASY_PATH=$MIES_INSTALL_PATH/lib;"
        "export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$MIES_INSTALL_PATH/lib;"
        "export MINDIE_UTILS_HTTP_CLIENT_CTL_CONFIG_FILE_PATH="
        "/mnt/mindie-service/ms/config/http_client_ctl.json;"
        " $MIES_INSTALL_PATH/bin/http_client_ctl $MIES_CONTAINER_MANAGEMENT_IP 1026"
    )
    assert c["startupProbe"] == {
        "exec": {"command": ["/bin/bash", "-c", f"{ctl} /v2/health/live 1 0"]},
        "periodSeconds": 1,
        "timeoutSeconds": 1,
        "failureThreshold": 180,
    }
    # detect_server_inner_error: true -> the timed inner-state URLs.
    assert c["readinessProbe"] == {
        "exec": {"command": ["/bin/bash", "-c", f"{ctl} /health/timed-10 10 0"]},
        "periodSeconds": 5,
        "timeoutSeconds": 10,
        "failureThreshold": 1,
    }
    assert c["livenessProbe"] == {
        "exec": {"command": ["/bin/bash", "-c", f"{ctl} /health/timed-10 10 0"]},
        "periodSeconds": 3,
        "timeoutSeconds": 10,
        "failureThreshold": 1,
    }
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[:2] == ["/bin/bash", "-c"]
    bare = "$MIES_INSTALL_PATH/bin/http_client_ctl $MIES_CONTAINER_MANAGEMENT_IP 1026"
    assert pre_stop[2].startswith(f"{ctl} /stopService 10 0; while {bare} /v2/health/live 1 0")
    assert c["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1001,
        "runAsGroup": 1001,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }

    for filename, m in manifests(result).items():
        assert schema_errors(m) == [], filename


@pytest.mark.parametrize("npu_type", ["Ascend910", "Ascend310P"])
@pytest.mark.parametrize("scheduler", ["default", "volcano"])
def test_seed_example_service_and_pdb(run_stack, npu_type, scheduler):
    result = run_stack("dev", {"mindie:inferServer": seed_server(npu_type=npu_type, scheduler=scheduler)})
    s = manifest(result, SERVICE)
    assert s["metadata"]["name"] == "mindie-server-infer" and s["metadata"]["namespace"] == "mindie"
    assert s["spec"]["type"] == "NodePort"
    assert s["spec"]["ports"] == [
        {"name": "infer", "port": 1025, "targetPort": 1025, "nodePort": 31005, "protocol": "TCP"}
    ]
    assert s["spec"]["selector"] == {
        "app.kubernetes.io/name": "mindie-server",
        "app.kubernetes.io/instance": "mindie-server",
    }
    pdb = manifest(result, PDB)
    # 50%/50% of 1: surge 1, unavailable floor(0.5) = 0 -> the PDB allows no voluntary disruption.
    assert pdb["spec"]["maxUnavailable"] == 0
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["spec"]["selector"]["matchLabels"] == s["spec"]["selector"]
    assert any("PodDisruptionBudget blocks node drains" in line for line in result.logs)


def test_volcano_without_fault_reschedule_is_forced(run_stack):
    body = seed_server(scheduler="volcano", npu_fault_reschedule=False)
    d = manifest(run_stack("dev", {"mindie:inferServer": body}), DEPLOYMENT)
    assert d["spec"]["template"]["metadata"]["labels"]["fault-scheduling"] == "force"


def test_default_scheduler_with_fault_reschedule_warns(run_stack):
    result = run_stack("dev", {"mindie:inferServer": seed_server()})
    assert any("npu_fault_reschedule needs scheduler volcano" in line for line in result.logs)


def test_probes_without_inner_error_detection(run_stack):
    body = seed_server(
        detect_server_inner_error=False,
        readiness_timeout=7,
        liveness_timeout=9,
        liveness_failure_threshold=4,
        readiness_failure_threshold=2,
        init_delay=600,
    )
    c = container(manifest(run_stack("dev", {"mindie:inferServer": body}), DEPLOYMENT))
    assert c["readinessProbe"]["exec"]["command"][2].endswith("/v2/health/ready 7 0")
    assert (c["readinessProbe"]["timeoutSeconds"], c["readinessProbe"]["failureThreshold"]) == (7, 2)
    assert c["livenessProbe"]["exec"]["command"][2].endswith("/v2/health/live 9 0")
    assert (c["livenessProbe"]["timeoutSeconds"], c["livenessProbe"]["failureThreshold"]) == (9, 4)
    assert c["startupProbe"]["failureThreshold"] == 600


def test_deployer_limit_policy_doubles_memory_and_cpu(run_stack):
    c = container(manifest(run_stack("dev", {"mindie:servers": {"limitPolicy": "deployer"}}), DEPLOYMENT))
    assert c["resources"]["limits"] == {"huawei.com/Ascend910": "1", "memory": "128000Mi", "cpu": "16000m"}
    assert c["resources"]["requests"] == {"huawei.com/Ascend910": "1", "memory": "64000Mi", "cpu": "8000m"}


# ------------------------------------------------------------------ config.json, run.sh, ConfigMap


def test_config_json_from_settings():
    settings = settings_for(server=seed_server())
    cfg = config_json(settings.infer_server, settings.servers, settings.servers.model, prefix_cache=False)
    server = cfg["ServerConfig"]
    assert (server["port"], server["managementPort"], server["metricsPort"]) == (1025, 1026, 1027)
    assert server["httpsEnabled"] is True and server["inferMode"] == "standard"
    # MindIE-LLM 8b4871a server_config.cpp InitFromJson reads it unconditionally.
    assert server["distDPServerEnabled"] is False
    assert server["tlsCert"] == "security/certs/server.pem"
    assert server["tlsPk"] == "security/keys/server.key.pem"
    assert server["managementTlsCert"] == "security/certs/management_server.pem"
    assert server["managementTlsCaFile"] == ["management_ca.pem"]
    # Management port apart from the inference port with HTTPS: the metrics TLS fields are required.
    assert server["metricsTlsCaFile"] == ["management_ca.pem"]
    assert server["metricsTlsCert"] == "security/certs/management_server.pem"
    assert server["metricsTlsPk"] == "security/keys/management_server.key.pem"
    # KMC-free (2ad5b22): no password or key-store keys.
    assert not {"tlsPkPwd", "managementTlsPkPwd", "kmcKsfMaster", "kmcKsfStandby"} & set(server)
    backend = cfg["BackendConfig"]
    assert backend["npuDeviceIds"] == [[0, 1, 2, 3, 4, 5, 6, 7]]
    (model,) = backend["ModelDeployConfig"]["ModelConfig"]
    assert model["worldSize"] == 8
    assert (
        model["modelWeightPath"] == "/mnt/mindie-service/ms/model/atb_testdata/weights/llama3-8b-safetensors"
    )
    assert model["modelName"] == "llama3-8b"
    assert "plugin_params" not in model and "enablePrefixCache" not in backend["ScheduleConfig"]


def test_config_json_names_exactly_the_staged_tls_files():
    """config.json's TLS paths and the server pod's staged copies: one list (domain.mindie_server_paths)."""
    from components.server import staged_files
    from domain.mindie_server_paths import SERVER_TLS_FILES

    settings = settings_for(server=seed_server())
    cfg = config_json(settings.infer_server, settings.servers, settings.servers.model, prefix_cache=False)
    server = cfg["ServerConfig"]
    named = {
        server["tlsCaPath"] + name
        for key in ("tlsCaFile", "managementTlsCaFile", "metricsTlsCaFile")
        for name in server[key]
    }
    named |= {server[f"{p}{k}"] for p in ("tls", "managementTls", "metricsTls") for k in ("Cert", "Pk")}
    assert named == {dest for _, _, dest in SERVER_TLS_FILES}
    staged = {f.dest for f in staged_files(enable_tls=True)}
    assert named <= staged


def test_config_json_prefix_cache_and_no_tls():
    settings = settings_for(server=seed_server(npu_chip_num=2))
    server = settings.infer_server.model_copy(
        update={
            "mindie_server_config": settings.infer_server.mindie_server_config.model_copy(
                update={"enable_tls": False}
            )
        }
    )
    cfg = config_json(server, settings.servers, settings.servers.model, prefix_cache=True)
    assert cfg["ServerConfig"]["httpsEnabled"] is False
    assert cfg["BackendConfig"]["npuDeviceIds"] == [[0, 1]]
    (model,) = cfg["BackendConfig"]["ModelDeployConfig"]["ModelConfig"]
    assert model["plugin_params"] == '{"plugin_type":"prefix_cache"}'
    assert model["worldSize"] == 2
    assert cfg["BackendConfig"]["ScheduleConfig"]["enablePrefixCache"] is True
    files = config_files(server, settings.servers, settings.servers.model, prefix_cache=True)
    assert sorted(files) == ["config.json", "http_client_ctl.json", "run.sh"]
    assert json.loads(files["http_client_ctl.json"])["tls_enable"] is False
    assert "gen_cert" not in files["run.sh"]


def test_run_sh_checks_the_model_directory_and_makes_no_certificates(tmp_path: Path):
    settings = settings_for(server=seed_server())
    script = run_sh(settings.infer_server, settings.servers, settings.servers.model)
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash" and "set -euo pipefail" in lines
    assert "export ASCEND_RT_VISIBLE_DEVICES=0,1,2,3,4,5,6,7" in lines
    assert "source /usr/local/Ascend/ascend-toolkit/set_env.sh" in lines
    assert f"export WORK_DIR={INSTALL}" in lines
    assert lines[-1] == "exec ./bin/mindieservice_daemon"
    # gen_cert is a KMC tool needing the CA keys in the pod: the CA component issues the certificates.
    assert "gen_cert" not in script and "ca.key.pem" not in script
    # The model check runs it for real: a directory owned by another uid stops the script, saying what to run.
    check = "\n".join(
        [
            "set -euo pipefail",
            *[x for x in lines if x.startswith(("model_dir=", "if", "owner=", "  ", "fi", "echo"))],
        ]
    )
    weights = tmp_path / "w"
    weights.mkdir(mode=0o750)
    body = check.replace(
        "model_dir=/mnt/mindie-service/ms/model/atb_testdata/weights/llama3-8b-safetensors",
        f"model_dir={weights}",
    )
    ok = subprocess.run(["bash", "-c", body], capture_output=True, text=True)
    assert ok.returncode == 0 and "owner uid" in ok.stdout and ": ok" in ok.stdout
    weights.chmod(0o777)
    bad = subprocess.run(["bash", "-c", body], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "mode 777" in bad.stderr and f"chown -R {os.getuid()}:{os.getgid()} {weights}" in bad.stderr


def test_configmap_staged_by_the_init_container(run_stack):
    result = run_stack("dev")
    cm = manifest(result, CONFIG_MAP)
    assert cm["metadata"]["name"] == "mindie-server-config"
    assert sorted(cm["data"]) == ["config.json", "http_client_ctl.json", "run.sh"]
    d = manifest(result, DEPLOYMENT)
    expected = hashlib.sha256(
        b"".join(k.encode() + b"\0" + cm["data"][k].encode() + b"\0" for k in sorted(cm["data"]))
    ).hexdigest()
    assert (
        d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        == expected
        == checksum(cm["data"])
    )
    mounts = {m["mountPath"]: m for m in container(d)["volumeMounts"]}
    # MindIE reads the copies: a memory emptyDir, read-only, never the ConfigMap's symlinks.
    assert mounts["/mnt/mindie-service/ms/config"] == {
        "name": "mindie-staged",
        "mountPath": "/mnt/mindie-service/ms/config",
        "subPath": "conf",
        "readOnly": True,
    }
    assert mounts["/mnt/mindie-service/ms/run/run.sh"]["subPath"] == "run.sh"
    (init,) = d["spec"]["template"]["spec"]["initContainers"]
    script = init["command"][-1]
    assert "install -D -m 0640 /mnt/source/config/config.json /mnt/stage/conf/config.json" in script
    ctl = "/mnt/source/config/http_client_ctl.json /mnt/stage/conf/http_client_ctl.json"
    assert f"install -D -m 0640 {ctl}" in script
    assert init["securityContext"]["runAsUser"] == container(d)["securityContext"]["runAsUser"] == 1001
    volumes = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
    items = {i["key"]: i["mode"] for i in volumes["config"]["configMap"]["items"]}
    assert items["run.sh"] == 0o550 and items["config.json"] == 0o440
    assert volumes["mindie-staged"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "32Mi"}


def test_config_change_rolls_pods(run_stack):
    before = manifest(run_stack("dev"), DEPLOYMENT)["spec"]["template"]["metadata"]["annotations"]
    after = manifest(run_stack("dev", {"mindie:servers": {"engine": {"maxSeqLen": 4096}}}), DEPLOYMENT)[
        "spec"
    ]["template"]["metadata"]["annotations"]
    assert before["checksum/config"] != after["checksum/config"]


def test_volumes_model_data_shm_tls(run_stack):
    d = manifest(run_stack("dev"), DEPLOYMENT)
    volumes = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
    assert volumes["model"]["persistentVolumeClaim"] == {"claimName": "mindie-models", "readOnly": True}
    assert volumes["writable-data"]["emptyDir"] == {"sizeLimit": "20Gi"}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    # The servers' own certificates and the probes' client, from the CA component; no CA key.
    for identity in ("mindieserver", "mindieserver-mgmt", "mindieclient-mgmt"):
        assert volumes[f"tls-{identity}"]["secret"]["secretName"] == f"mindie-tls-{identity}"
    assert "server-ca" not in volumes
    mounts = {m["mountPath"]: m for m in container(d)["volumeMounts"]}
    assert mounts["/mnt/mindie-service/ms/model"]["readOnly"] is True
    assert mounts["/dev/shm"]["name"] == "dshm"
    assert mounts[f"{INSTALL}/security"] == {
        "name": "mindie-staged",
        "mountPath": f"{INSTALL}/security",
        "subPath": "security",
        "readOnly": True,
    }
    assert not any(m["name"].startswith("tls-") for m in container(d)["volumeMounts"])
    (init,) = d["spec"]["template"]["spec"]["initContainers"]
    script = init["command"][-1]
    assert (
        "install -D -m 0400 /mnt/source/mindieserver/cert.key.pem /mnt/stage/security/keys/server.key.pem"
    ) in script
    assert (
        "install -D -m 0400 /mnt/source/mindieclient-mgmt/key_pwd.txt "
        "/mnt/stage/security/http_client/pass/key_pwd.txt"
    ) in script


def test_host_path_model_makes_the_namespace_privileged(run_stack):
    restricted = manifest(run_stack("dev"), "kubernetes:core/v1:Namespace")
    assert restricted["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    model = {"hostPath": {"path": "/mnt/mindie-service/ms/model", "type": "Directory"}, "weightDir": "w"}
    result = run_stack("dev", {"mindie:servers": {"model": model}})
    volumes = {v["name"]: v for v in manifest(result, DEPLOYMENT)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["model"]["hostPath"] == {"path": "/mnt/mindie-service/ms/model", "type": "Directory"}
    ns = manifest(result, "kubernetes:core/v1:Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"


def test_staging_model_from_pvc(run_stack):
    result = run_stack("staging")
    pod = manifest(result, DEPLOYMENT, "mindie-server-310p-deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["model"]["persistentVolumeClaim"] == {"claimName": "mindie-models", "readOnly": True}
    assert pod["securityContext"]["supplementalGroups"] == [1000]


def test_tls_off_has_no_certificate_volumes(run_stack):
    body = infer_server("dev")
    body["mindie_server_config"]["enable_tls"] = False
    d = manifest(run_stack("dev", {"mindie:inferServer": body}), DEPLOYMENT)
    assert not any(v["name"].startswith("tls-") for v in d["spec"]["template"]["spec"]["volumes"])
    assert env_of(container(d))["MINDIE_USE_HTTPS"] == "false"


def test_tls_secrets_and_tls_checksum(tmp_path: Path):
    """The component on its own honours the contract's tls_secrets / tls_checksum inputs."""
    (tmp_path / "__main__.py").write_text(
        "import pulumi\n"
        "from components.server import ServerGroup\n"
        "from stacks.composition.servers import server_group_args\n"
        "from stacks.settings.stack import load_settings, server_groups\n"
        "settings = load_settings()\n"
        "g = server_groups(settings)[0]\n"
        "secrets = {i: pulumi.Output.from_input(f'own-{i}') for i in "
        "('mindieserver', 'mindieserver-mgmt', 'mindieclient-mgmt')}\n"
        "sg = ServerGroup(g.server.server_name, server_group_args(namespace='mindie', server=g.server,\n"
        "    servers=settings.servers, model=g.model, entry_is_server=False, prefix_cache=True,\n"
        "    tls_secrets=secrets, tls_checksum='abc123'))\n"
        "pulumi.export('endpoints', sg.endpoints)\n"
    )
    config = stack_config("dev")
    result = run_program("dev", config, program_dir=tmp_path)
    d = integral(result.one(DEPLOYMENT).inputs)
    assert d["spec"]["template"]["metadata"]["annotations"]["checksum/tls"] == "abc123"
    volumes = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
    secret = volumes["tls-mindieserver"]["secret"]
    assert secret["secretName"] == "own-mindieserver" and secret["defaultMode"] == 0o440
    (init,) = d["spec"]["template"]["spec"]["initContainers"]
    mounts = {m["mountPath"]: m for m in init["volumeMounts"]}
    assert mounts["/mnt/source/mindieserver"] == {
        "name": "tls-mindieserver",
        "mountPath": "/mnt/source/mindieserver",
        "readOnly": True,
    }


def test_tls_without_secrets_is_refused(tmp_path: Path):
    (tmp_path / "__main__.py").write_text(
        "from components.server import ServerGroup\n"
        "from stacks.composition.servers import server_group_args\n"
        "from stacks.settings.stack import load_settings, server_groups\n"
        "settings = load_settings()\n"
        "g = server_groups(settings)[0]\n"
        "ServerGroup(g.server.server_name, server_group_args(namespace='mindie', server=g.server,\n"
        "    servers=settings.servers, model=g.model))\n"
    )
    with pytest.raises(Exception, match="enable_tls needs tls_secrets for mindieserver"):
        run_program("dev", stack_config("dev"), program_dir=tmp_path)


def test_coordinator_entry_gives_cluster_ip(run_stack):
    result = run_stack("staging")
    assert result.outputs["entry"] == "coordinator"
    s = manifest(result, SERVICE)
    assert s["spec"]["type"] == "ClusterIP"
    assert s["spec"]["ports"] == [
        {"name": "infer", "port": 1025, "targetPort": 1025, "protocol": "TCP"},
        {"name": "management", "port": 1026, "targetPort": 1026, "protocol": "TCP"},
    ]


def test_endpoints_follow_the_contract(run_stack):
    result = run_stack("staging")
    endpoints = integral(result.outputs["serverEndpoints"])
    assert endpoints == [
        {
            "group": "mindie-server",
            "deployment": "mindie-server",
            "service": "mindie-server-infer",
            "replicas": 2,
            "selector": {
                "app.kubernetes.io/name": "mindie-server",
                "app.kubernetes.io/instance": "mindie-server",
            },
            "infer_port": 1025,
            "management_port": 1026,
            "npu_type": "Ascend910",
            "npu_chip_num": 8,
            "tls": True,
        },
        {
            "group": "mindie-server-310p",
            "deployment": "mindie-server-310p",
            "service": "mindie-server-310p-infer",
            "replicas": 2,
            "selector": {
                "app.kubernetes.io/name": "mindie-server",
                "app.kubernetes.io/instance": "mindie-server-310p",
            },
            "infer_port": 1025,
            "management_port": 1026,
            "npu_type": "Ascend310P",
            "npu_chip_num": 2,
            "tls": True,
        },
    ]
    component = result.one("mindie:server:ServerGroup", "mindie-server")
    assert integral(component.outputs["endpoints"]) == endpoints[:1]


def test_heterogeneous_groups(run_stack):
    result = run_stack("staging")
    big = manifest(result, DEPLOYMENT, "mindie-server-deployment")
    small = manifest(result, DEPLOYMENT, "mindie-server-310p-deployment")
    assert container(big)["resources"]["requests"]["huawei.com/Ascend910"] == "8"
    assert container(small)["resources"]["requests"]["huawei.com/Ascend310P"] == "2"
    assert small["spec"]["template"]["spec"]["nodeSelector"] == {"accelerator": "huawei-Ascend310P"}
    assert small["spec"]["template"]["metadata"]["labels"]["ring-controller.atlas"] == "ascend-310P"
    assert small["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "50%", "maxUnavailable": "50%"}
    small_cm = json.loads(manifest(result, CONFIG_MAP, "mindie-server-310p-config")["data"]["config.json"])
    assert small_cm["BackendConfig"]["npuDeviceIds"] == [[0, 1]]
    assert small_cm["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["modelName"] == "llama3-8b"
    for filename, m in manifests(result).items():
        assert schema_errors(m) == [], filename


def test_rollout_plan_output_and_preview_print(run_stack, tmp_path: Path, capsys):
    plans = integral(run_stack("prod").outputs["rolloutPlan"])
    assert plans == [
        {
            "group": "mindie-server",
            "npuType": "Ascend910",
            "replicas": 4,
            "chipsPerPod": 8,
            "maxSurge": "0%",
            "maxUnavailable": "25%",
            "surgePods": 0,
            "unavailablePods": 1,
            "effectiveUnavailablePods": 1,
            "kubernetesFallback": False,
            "minServingReplicas": 3,
            "peakPods": 4,
            "peakChips": 32,
            "capacityPods": 5,
            "schedulableSurgePods": 0,
            "waves": 4,
            "canProgress": True,
        }
    ]
    assert (
        main(["preview", "--stack", "prod", "--out", str(tmp_path / "o"), "--state", str(tmp_path / "s")])
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "info: rollout mindie-server: 4 x 8 Ascend910 chips, surge 0 (max_surge 0%), unavailable 1 "
        "(max_unavailable 25%); peak 4 pods / 32 chips, at least 3 serving, 4 wave(s); "
        "room for 5 pods of 8 chips"
    ) in printed


def test_deadlock_fails_the_preview(tmp_path: Path, project_dir: Path, capsys, monkeypatch):
    import shutil

    for f in project_dir.glob("Pulumi.*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    prod = tmp_path / "Pulumi.prod.yaml"
    prod.write_text(
        prod.read_text()
        .replace('max_surge: "0%"', 'max_surge: "25%"')
        .replace("Ascend910: {nodes: 5, chipsPerNode: 8}", "Ascend910: {nodes: 4, chipsPerNode: 8}")
        .replace('max_unavailable: "25%"', 'max_unavailable: "20%"')
    )
    monkeypatch.setenv("MINDIE_STACK_DIR", str(tmp_path))
    out = tmp_path / "out"
    assert main(["preview", "--stack", "prod", "--out", str(out), "--state", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err
    assert 'mindie:inferServer: the rolling update of group "mindie-server" can never make progress' in err
    assert 'raise max_unavailable to at least "25%"' in err
    assert "Traceback" not in err and not out.exists()


# ------------------------------------------------------------------ settings validation


def test_extra_group_name_must_be_unique():
    extra = {
        "mindie:servers": {
            "extraGroups": [
                {
                    "server_name": "mindie-server",
                    "replicas": 1,
                    "service_port": 31006,
                    "resource_requests": {"cpu_core": 1000, "npu_type": "Ascend310P", "npu_chip_num": 1},
                }
            ]
        }
    }
    assert (
        'mindie:servers.extraGroups[0].server_name = "mindie-server": already used by '
        "mindie:inferServer.server_name"
    ) in error_of(extra=extra)


def test_extra_group_needs_its_own_node_port_when_servers_are_the_entry():
    group = {
        "server_name": "small",
        "replicas": 1,
        "resource_requests": {"cpu_core": 1000, "npu_type": "Ascend310P", "npu_chip_num": 1},
    }
    message = error_of(extra={"mindie:servers": {"extraGroups": [group]}})
    assert "mindie:servers.extraGroups[0].service_port: required when mindie:entry is server" in message
    message = error_of(extra={"mindie:servers": {"extraGroups": [{**group, "service_port": 31005}]}})
    assert (
        "mindie:servers.extraGroups[0].service_port = 31005: already used by mindie:inferServer.service_port"
    ) in message
    # With the Coordinator as the entry the groups are ClusterIP: no NodePort needed. (The staging
    # servers' image: Motor pulls from the same repository.)
    image = json.loads(stack_config("staging")["mindie:servers"])["image"]
    variant = {**group, "image": image.replace("800I-A2", "300I-Duo")}
    settings = settings_for("staging", extra={"mindie:servers": {"image": image, "extraGroups": [variant]}})
    assert settings.servers.extra_groups[0].service_port is None


def test_extra_group_rollout_both_zero():
    group = {
        "server_name": "small",
        "replicas": 1,
        "service_port": 31006,
        "max_surge": "0%",
        "max_unavailable": "0%",
        "resource_requests": {"cpu_core": 1000, "npu_type": "Ascend310P", "npu_chip_num": 1},
    }
    assert 'mindie:servers.extraGroups[0]: max_unavailable and max_surge are both "0%"' in error_of(
        extra={"mindie:servers": {"extraGroups": [group]}}
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/home/user/models", "must not be under /home"),
        ("/etc/models", "must not be under /etc"),
        ("/usr/local/Ascend/models", "must not be under /usr"),
        ("/var/lib/kubelet/pods", "must not be a container runtime path (/var/lib/kubelet)"),
        ("/", "must not be the node's root directory"),
        ("models", "must be an absolute path"),
        ("/data/../etc", "must be a normalised absolute path"),
    ],
)
def test_model_host_path_is_validated(path, message):
    text = error_of(extra={"mindie:servers": {"model": {"hostPath": {"path": path}}}})
    assert f"mindie:servers.model.hostPath.path = '{path}': {message}" in text


def test_model_source_exactly_one():
    both = {"hostPath": {"path": "/data/models"}, "persistentVolumeClaim": {"claimName": "m"}}
    assert "set exactly one of hostPath and persistentVolumeClaim" in error_of(
        extra={"mindie:servers": {"model": both}}
    )
    assert "set exactly one of hostPath and persistentVolumeClaim" in error_of(
        extra={"mindie:servers": {"model": {"weightDir": "x"}}}
    )


def test_model_host_path_type_and_weight_dir():
    assert "mindie:servers.model.hostPath.type = 'DirectoryOrCreate': must be one of 'Directory'" in error_of(
        extra={"mindie:servers": {"model": {"hostPath": {"path": "/data/m", "type": "DirectoryOrCreate"}}}}
    )
    assert "mindie:servers.model.weightDir = '../x': must be a relative path below the mount" in error_of(
        extra={"mindie:servers": {"model": {"hostPath": {"path": "/data/m"}, "weightDir": "../x"}}}
    )
    model = ModelSource.model_validate({"persistentVolumeClaim": {"claimName": "m"}, "weightDir": "a/b"})
    assert model.weight_path == "/mnt/mindie-service/ms/model/a/b"


def test_image_security_and_ports_validated():
    assert "mindie:servers.image = 'Mindie Server': must be an image reference" in error_of(
        extra={"mindie:servers": {"image": "Mindie Server"}}
    )
    # the UID is mindie:runtimeUser (one setting for images and pods), no longer a servers key
    assert "mindie:servers.securityContext.runAsUser: unknown key" in error_of(
        extra={"mindie:servers": {"securityContext": {"runAsUser": 1001}}}
    )
    assert "mindie:runtimeUser.uid = 0: must not be 0 (root)" in error_of(
        extra={"mindie:runtimeUser": {"uid": 0, "gid": 0}}
    )
    assert "mindie:servers.engine.metricsPort = 1025: equals mindie:inferServer" in error_of(
        extra={"mindie:servers": {"engine": {"metricsPort": 1025}}}
    )
    assert "mindie:servers.shmSizeLimit = '16 GB': must be a Kubernetes quantity" in error_of(
        extra={"mindie:servers": {"shmSizeLimit": "16 GB"}}
    )


def test_shm_larger_than_memory_warns(run_stack):
    result = run_stack("dev", {"mindie:servers": {"shmSizeLimit": "64000Mi"}})
    assert any("shmSizeLimit 64000Mi is not below the pod's memory (64000Mi)" in line for line in result.logs)
    result = run_stack("dev", {"mindie:servers": {"shmSizeLimit": "63999Mi"}})
    assert not any("shmSizeLimit" in line for line in result.logs)


def test_ascend_home_needed_when_not_derivable():
    body = infer_server("dev")
    body["mindie_server_config"]["mies_install_path"] = "/opt/mindie-service"
    assert "mindie:servers.ascendHome: required because" in error_of(server=body)
    settings = settings_for(server=body, extra={"mindie:servers": {"ascendHome": "/opt/Ascend"}})
    assert "source /opt/Ascend/nnal/atb/set_env.sh" in run_sh(settings.infer_server, settings.servers)


def test_inventory_validation_messages():
    assert "mindie:npuInventory.Ascend910.chipsPerNode = 0: out of range: allowed 1 to 64" in error_of(
        extra={"mindie:npuInventory": {"Ascend910": {"nodes": 1, "chipsPerNode": 0}}}
    )
    assert "needs Ascend910 chips but mindie:npuInventory declares no Ascend910 capacity" in error_of(
        extra={"mindie:npuInventory": {"Ascend310P": {"nodes": 1, "chipsPerNode": 8}}}
    )


def test_servers_defaults():
    servers = ServersSettings()
    assert servers.image == "mindie:server"
    assert (
        servers.model.host_path is not None and servers.model.host_path.path == "/mnt/mindie-service/ms/model"
    )
    assert servers.image_build is None and servers.limit_policy.value == "guaranteed"


def test_prefix_cache_follows_the_coordinator_algorithm(run_stack):
    staging = run_stack("staging")  # entry coordinator, algorithm_type cache_affinity
    assert staging.outputs["prefixCache"] is True
    for name in ("mindie-server-config", "mindie-server-310p-config"):
        cfg = json.loads(manifest(staging, CONFIG_MAP, name)["data"]["config.json"])
        assert cfg["BackendConfig"]["ScheduleConfig"]["enablePrefixCache"] is True
        assert cfg["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["plugin_params"] == (
            '{"plugin_type":"prefix_cache"}'
        )
    dev = json.loads(manifest(run_stack("dev"), CONFIG_MAP)["data"]["config.json"])
    assert "enablePrefixCache" not in dev["BackendConfig"]["ScheduleConfig"]
