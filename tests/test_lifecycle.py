"""Lifecycle: idempotent previews, prod protection, StackReference mode, rolling conventions, docs table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mindiectl import stackfile
from mindiectl.__main__ import main
from mindiectl.render import manifests
from mindiectl.runtime import StackReferenceError
from mindiectl.stack_run import run_stack as preview_run_stack
from stacks.settings import promotion
from stacks.settings.errors import SettingsError
from stacks.settings.stack import Settings

from .helpers import STACKS

# --------------------------------------------------------------------------- `pulumi up` twice: no change


@pytest.mark.parametrize("stack", STACKS)
def test_two_previews_of_an_unchanged_stack_are_identical(stack: str, tmp_path: Path):
    state = str(tmp_path / "state.json")
    for name in ("a", "b"):
        args = ["preview", "--stack", stack, "--quiet", "--out", str(tmp_path / name), "--state", state]
        assert main(args) == 0
    a, b = tmp_path / "a", tmp_path / "b"
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert Path("resources.json") in files and any(f.parts[0] == "manifests" for f in files)
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


# --------------------------------------------------------------------------- protection


def test_prod_protects_and_retains_the_namespace(run_stack, tmp_path: Path):
    result = run_stack("prod")
    ns = result.one("kubernetes:core/v1:Namespace")
    assert ns.protect is True and ns.retain_on_delete is True
    # and it is what the offline preview records
    assert (
        main(
            [
                "preview",
                "--stack",
                "prod",
                "--quiet",
                "--out",
                str(tmp_path / "o"),
                "--state",
                str(tmp_path / "s.json"),
            ]
        )
        == 0
    )
    records = json.loads((tmp_path / "o" / "resources.json").read_text())
    recorded = next(r for r in records if r["type"] == "kubernetes:core/v1:Namespace")
    assert recorded["protect"] is True and recorded["retainOnDelete"] is True


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "prod"])
def test_outside_prod_destroy_removes_everything(stack: str, run_stack):
    result = run_stack(stack)
    kept = [r.urn for r in result.resources if r.protect or r.retain_on_delete]
    assert kept == []


def test_protection_follows_the_environment_not_the_stack_name(run_stack):
    """The convention: protect = settings.environment is PROD (a stack named prod-eu is protected too)."""
    result = run_stack("staging", overrides={"mindie:environment": "prod"})
    assert result.one("kubernetes:core/v1:Namespace").protect is True
    assert (
        run_stack("prod", overrides={"mindie:environment": "staging"})
        .one("kubernetes:core/v1:Namespace")
        .protect
        is False
    )


def test_in_prod_protect_and_retain_go_together(run_stack):
    """A protected resource that destroy would delete once unprotected would lose the data: retain it too."""
    for r in run_stack("prod").resources:
        assert r.protect == r.retain_on_delete, r.urn


# --------------------------------------------------------------------------- StackReference mode


@pytest.fixture
def reference_stacks(stack_copy: Path) -> Path:
    """A copy of the stacks where staging takes its release from dev through a StackReference:
    staging's release settings of every component dev configures are removed."""
    folder = stack_copy
    dev_doc = stackfile.read_document(folder / "Pulumi.dev.yaml")
    dev_keys = {str(k)[len("mindie:") :] for k in dev_doc["config"]}
    path = folder / "Pulumi.staging.yaml"
    doc = stackfile.read_document(path)
    config = doc["config"]
    plain = {str(k)[len("mindie:") :]: v for k, v in config.items() if str(k).startswith("mindie:")}
    release, _ = promotion.split(plain, promotion.setting_tree(Settings))
    removed: list[str] = []

    def strip(node: Any, part: dict[str, Any], prefix: str) -> None:
        for key, value in list(part.items()):  # `part` may be `node` itself (a wholly-release key)
            if isinstance(value, dict) and value != json.loads(json.dumps(node[key])):
                strip(node[key], value, f"{prefix}{key}.")
            else:
                del node[key]
                removed.append(prefix + key)

    for key, value in release.items():
        if key in dev_keys:
            strip(config[f"mindie:{key}"], value, f"{key}.")
            if not config[f"mindie:{key}"]:  # every sub-key was release (mindie:runtimeUser)
                del config[f"mindie:{key}"]
    assert "inferServer.mindie_server_config" in removed
    config["mindie:releaseFrom"] = "acme/mindie/dev"
    stackfile.write_document(path, doc)
    dev = folder / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("infer_port: 1025", "infer_port: 2025"))
    return folder


def test_stackreference_mode_takes_the_release_from_the_other_stack(reference_stacks: Path, tmp_path: Path):
    dev = preview_run_stack("dev", tmp_path / "dev.json", project_dir=reference_stacks)
    staging = preview_run_stack(
        "staging", tmp_path / "staging.json", project_dir=reference_stacks, stack_outputs={"dev": dev.outputs}
    )
    release = staging.outputs["release"]
    assert release["mode"] == "stackReference" and release["fromStack"] == "acme/mindie/dev"
    assert release["parts"]["inferServer"] == dev.outputs["release"]["parts"]["inferServer"]
    # dev configures no Motor (entry server): staging's own Motor release applies, as with promote
    assert "motor" not in dev.outputs["release"]["parts"]
    assert release["settings"]["motor"]["coordinator"]["algorithm_type"] == "cache_affinity"
    assert release["settings"]["inferServer"]["mindie_server_config"]["infer_port"] == 2025
    ref = staging.one("pulumi:pulumi:StackReference")
    assert ref.read and ref.id == "acme/mindie/dev" and ref.inputs == {"name": "acme/mindie/dev"}
    assert staging.outputs["environment"] == "staging"  # the environment stays staging's


def test_stackreference_mode_reads_the_last_offline_preview(
    reference_stacks: Path, tmp_path: Path, monkeypatch, capsys
):
    """Offline, build/<stack>/outputs.json stands for the referenced stack's last deployment
    (next to the stack files: under $MINDIE_STACK_DIR, here the temp copy)."""
    build = reference_stacks / "build"
    args = [
        "preview",
        "--stack",
        "staging",
        "--quiet",
        "--out",
        str(tmp_path / "out-staging"),
        "--state",
        str(tmp_path / "s.json"),
    ]
    assert main(args) == 2
    assert "run `python -m mindiectl preview --stack dev` first" in capsys.readouterr().err
    assert (
        main(
            [
                "preview",
                "--stack",
                "dev",
                "--quiet",
                "--out",
                str(build / "dev"),
                "--state",
                str(tmp_path / "d.json"),
            ]
        )
        == 0
    )
    assert main(args) == 0
    outputs = json.loads((tmp_path / "out-staging" / "outputs.json").read_text())
    dev_outputs = json.loads((build / "dev" / "outputs.json").read_text())
    assert outputs["release"]["parts"]["inferServer"] == dev_outputs["release"]["parts"]["inferServer"]
    records = json.loads((tmp_path / "out-staging" / "resources.json").read_text())
    assert [r["read"] for r in records if r["type"] == "pulumi:pulumi:StackReference"] == [True]


def test_stackreference_mode_refuses_local_release_settings(reference_stacks: Path, tmp_path: Path):
    dev = preview_run_stack("dev", tmp_path / "dev.json", project_dir=reference_stacks)
    staging = reference_stacks / "Pulumi.staging.yaml"
    local = "    service_type: NodePort\n    server_type: mindie_single_node\n"
    staging.write_text(staging.read_text().replace("    service_type: NodePort\n", local))
    with pytest.raises(SettingsError) as info:
        preview_run_stack(
            "staging",
            tmp_path / "staging.json",
            project_dir=reference_stacks,
            stack_outputs={"dev": dev.outputs},
        )
    assert info.value.problems == [
        "mindie:inferServer.server_type: a release setting, but mindie:releaseFrom = 'acme/mindie/dev' "
        "supplies the release; remove it from this stack (or unset releaseFrom)"
    ]


def test_stackreference_to_another_project_or_without_release(reference_stacks: Path, tmp_path: Path):
    staging = reference_stacks / "Pulumi.staging.yaml"
    staging.write_text(staging.read_text().replace("acme/mindie/dev", "acme/other/dev"))
    with pytest.raises(StackReferenceError, match="project 'other' is not 'mindie'"):
        preview_run_stack("staging", tmp_path / "s.json", project_dir=reference_stacks, stack_outputs={})
    staging.write_text(staging.read_text().replace("acme/other/dev", "dev"))
    with pytest.raises(SettingsError, match="that stack has no `release` output"):
        preview_run_stack(
            "staging",
            tmp_path / "s.json",
            project_dir=reference_stacks,
            stack_outputs={"dev": {"environment": "dev"}},
        )


def test_releasefrom_must_be_a_stack_name(reference_stacks: Path, tmp_path: Path):
    staging = reference_stacks / "Pulumi.staging.yaml"
    staging.write_text(staging.read_text().replace("acme/mindie/dev", "a/b/c/d"))
    with pytest.raises(SettingsError, match="not a stack name"):
        preview_run_stack("staging", tmp_path / "s.json", project_dir=reference_stacks, stack_outputs={})


# --------------------------------------------------------------------------- rolling updates


def rollout_problems(manifest: dict[str, Any]) -> list[str]:
    """A Deployment rolls only when what it mounts changes, and within explicit rolling-update bounds."""
    if manifest.get("kind") != "Deployment":
        return []
    problems = []
    spec = manifest["spec"]
    rolling = (spec.get("strategy") or {}).get("rollingUpdate")
    if rolling is not None and not {"maxUnavailable", "maxSurge"} <= set(rolling):
        problems.append("rollingUpdate without explicit maxUnavailable and maxSurge")
    template = spec["template"]
    volumes = template["spec"].get("volumes") or []
    mounts = any(k in v for v in volumes for k in ("configMap", "secret", "projected"))
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    checksums = {k: v for k, v in annotations.items() if k.startswith("checksum/")}
    if mounts and not checksums:
        problems.append("mounts a ConfigMap/Secret but has no checksum/* pod-template annotation")
    for key, value in checksums.items():
        if not re.fullmatch(r"[0-9a-f]{64}", str(value)):
            problems.append(f"{key} = {value!r} is not a sha256 hex digest")
    for key, value in annotations.items():
        if re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", str(value)):
            problems.append(f"{key} looks like a timestamp: every `pulumi up` would roll the pods")
    return problems


def test_rollout_problems_catches_each_mistake():
    def deployment(annotations, strategy=None):
        return {
            "kind": "Deployment",
            "spec": {
                "strategy": strategy
                or {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 0}},
                "template": {
                    "metadata": {"annotations": annotations},
                    "spec": {"volumes": [{"name": "c", "configMap": {"name": "x"}}]},
                },
            },
        }

    assert rollout_problems(deployment({"checksum/config": "a" * 64})) == []
    assert rollout_problems(deployment({})) == [
        "mounts a ConfigMap/Secret but has no checksum/* pod-template annotation"
    ]
    assert rollout_problems(deployment({"checksum/config": "abc"})) == [
        "checksum/config = 'abc' is not a sha256 hex digest"
    ]
    stamped = {"checksum/config": "a" * 64, "restartedAt": "2024-01-01T10:00:00Z"}
    assert rollout_problems(deployment(stamped)) == [
        "restartedAt looks like a timestamp: every `pulumi up` would roll the pods"
    ]
    assert rollout_problems(
        deployment({"checksum/tls": "b" * 64}, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    ) == ["rollingUpdate without explicit maxUnavailable and maxSurge"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_deployment_rolls_only_on_change(stack: str, run_stack):
    for name, manifest in manifests(run_stack(stack)).items():
        assert rollout_problems(manifest) == [], name


# --------------------------------------------------------------------------- docs


def test_docs_table_is_the_classification():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "lifecycle.md").read_text()
    begin, end = promotion.DOC_BEGIN, promotion.DOC_END
    assert begin in doc and end in doc
    embedded = doc.split(begin, 1)[1].split(end, 1)[0]
    assert embedded == promotion.markdown_table(), (
        "docs/lifecycle.md is out of date: run `python -m stacks.settings.promotion --write`"
    )
