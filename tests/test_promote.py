"""Release vs environment classification and `mindiectl promote` (dev -> staging -> prod in a temp copy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from pydantic import Field, create_model

from mindiectl import promote as promote_mod
from mindiectl import stackfile
from mindiectl.__main__ import main
from mindiectl.promote import PromotionError, promote
from mindiectl.stack_run import run_stack as preview_run_stack
from stacks.settings import promotion
from stacks.settings.fields import StrictModel
from stacks.settings.infer_server import InferServer
from stacks.settings.promotion import CLASSIFICATION, Kind
from stacks.settings.stack import Settings

# --------------------------------------------------------------------------- the classification table


def test_every_setting_is_classified():
    missing = promotion.unclassified(promotion.setting_tree(Settings))
    assert missing == [], (
        f"settings without a release/environment decision: {missing}; "
        "add each to CLASSIFICATION in stacks/settings/promotion.py (see docs/lifecycle.md)"
    )


def test_no_entry_names_a_missing_setting():
    assert promotion.stale_entries(promotion.setting_tree(Settings)) == [], (
        "CLASSIFICATION names settings the model does not have"
    )


def test_every_entry_has_a_kind_and_a_reason():
    for path, (kind, why) in CLASSIFICATION.items():
        assert isinstance(kind, Kind), path
        assert len(why) > 10, path


def test_a_new_root_key_is_caught():
    sub = create_model("Gadget", __base__=StrictModel, image=(str, "x"), replicas=(int, 1))
    extended = create_model("Extended", __base__=Settings, gadget=(Optional[sub], Field(None)))
    assert promotion.unclassified(promotion.setting_tree(extended)) == ["gadget.image", "gadget.replicas"]
    table = {**CLASSIFICATION, "gadget": (Kind.RELEASE, "all of it")}
    assert promotion.unclassified(promotion.setting_tree(extended), table) == []


def test_a_new_inferserver_sub_key_is_caught():
    """inferServer is decided per sub-key: a new one has no parent entry to hide behind."""
    bigger = create_model("InferServer2", __base__=InferServer, model_image=(str, "x"))
    extended = create_model("Extended2", __base__=Settings, infer_server=(bigger, Field(alias="inferServer")))
    assert promotion.unclassified(promotion.setting_tree(extended)) == ["inferServer.model_image"]


def test_dict_of_objects_is_classified_per_entry_field():
    group = create_model("Group", __base__=StrictModel, image=(str, "x"), replicas=(int, 1))
    extended = create_model(
        "Extended3", __base__=Settings, groups=(dict[str, group], Field(default_factory=dict))
    )
    tree = promotion.setting_tree(extended)
    assert promotion.unclassified(tree) == ["groups.*.image", "groups.*.replicas"]
    table = {
        **CLASSIFICATION,
        "groups.*.image": (Kind.RELEASE, "the image"),
        "groups.*.replicas": (Kind.ENVIRONMENT, "capacity"),
    }
    data = {"groups": {"a": {"image": "i:1", "replicas": 3}, "b": {"image": "i:2", "replicas": 1}}}
    release, env = promotion.split(data, tree, table)
    assert release == {"groups": {"a": {"image": "i:1"}, "b": {"image": "i:2"}}}
    assert env == {"groups": {"a": {"replicas": 3}, "b": {"replicas": 1}}}


def test_split_and_overlay():
    raw = {
        "environment": "prod",
        "inferServer": {
            "replicas": 4,
            "server_type": "mindie_single_node",
            "mindie_server_config": {"infer_port": 1025},
        },
    }
    tree = promotion.setting_tree(Settings)
    release, env = promotion.split(raw, tree)
    assert release == {
        "inferServer": {"server_type": "mindie_single_node", "mindie_server_config": {"infer_port": 1025}}
    }
    assert env == {"environment": "prod", "inferServer": {"replicas": 4}}
    # StackReference values come back as floats; environment keys in the referenced data are ignored
    merged = promotion.overlay_release(
        env, {"inferServer": {"mindie_server_config": {"infer_port": 2025.0}, "replicas": 99}}, tree
    )
    assert merged == {
        "environment": "prod",
        "inferServer": {"replicas": 4, "mindie_server_config": {"infer_port": 2025}},
    }


def test_fingerprint_follows_the_release_only(run_stack):
    dev, staging = run_stack("dev"), run_stack("staging")
    fp = staging.outputs["release"]["fingerprint"]
    assert fp.startswith("sha256:") and len(fp) == 71
    # different replicas, resources, scheduler...: the same server release as dev
    parts = staging.outputs["release"]["parts"]
    assert parts["inferServer"] == dev.outputs["release"]["parts"]["inferServer"]
    # dev runs no Coordinator (entry server, mindie:motor not configured): no Motor release there
    assert "motor" not in dev.outputs["release"]["parts"] and "motor" in staging.outputs["release"]["parts"]
    changed = run_stack("staging", server={"mindie_server_config.infer_port": 2025})
    assert changed.outputs["release"]["fingerprint"] != fp
    more = run_stack("staging", server={"replicas": 3, "init_delay": 900})
    assert more.outputs["release"]["fingerprint"] == fp
    assert dev.outputs["release"]["settings"]["inferServer"]["mindie_server_config"]["infer_port"] == 1025
    assert dev.outputs["release"]["mode"] == "config"


# --------------------------------------------------------------------------- promote in a temp copy


@pytest.fixture
def stacks(stack_copy: Path) -> Path:
    return stack_copy


@pytest.fixture(scope="session")
def gate_state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gate-state")


def edit(folder: Path, stack: str, old: str, new: str) -> None:
    path = folder / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a parsed stack file to dotted leaf paths (independent of the promote code)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def config_leaves(folder: Path, stack: str) -> dict[str, Any]:
    return leaves(yaml.safe_load((folder / f"Pulumi.{stack}.yaml").read_text())["config"])


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k, "<unset>") != after.get(k, "<unset>")}


def top_keys(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.startswith("  mindie:")]
    return [line.strip().split(": ")[0].rstrip(":") for line in lines]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("Pulumi.*.yaml"))}


NEW_RELEASE = [
    (
        "mies_install_path: /usr/local/Ascend/mindie/latest/mindie-service",
        "mies_install_path: /opt/mindie/2.0/mindie-service",
    ),
    ("infer_port: 1025", "infer_port: 2025   # this release moves the inference port"),
]


def test_promote_dev_to_staging_to_prod(stacks: Path, gate_state: Path, capsys):
    # baseline: the three stacks run one release (whatever the committed files hold today)
    promote("dev", "staging", state_dir=gate_state)
    promote("staging", "prod", state_dir=gate_state)
    for old, new in NEW_RELEASE:
        edit(stacks, "dev", old, new)
    # staging carries a release key dev does not have: the release removes it
    edit(
        stacks,
        "staging",
        "    service_type: NodePort\n",
        "    service_type: NodePort\n    cross_node_num: 2\n",
    )
    dev_server = promotion.part_fingerprints(_settings(stacks, "dev"))["inferServer"]
    before = {s: config_leaves(stacks, s) for s in ("dev", "staging", "prod")}
    dev_bytes = (stacks / "Pulumi.dev.yaml").read_bytes()

    code = main(["promote", "--from", "dev", "--to", "staging", "--state-dir", str(gate_state)])
    out = capsys.readouterr().out
    assert code == 0, out
    # dev does not configure mindie:motor (no Coordinator with entry server): staging keeps its own
    assert (
        "warning: mindie:motor is not configured in dev: not promoted, staging keeps its own "
        "(configure it in both dev and staging to promote it)"
    ) in out
    staging_parts = promotion.part_fingerprints(_settings(stacks, "staging"))
    assert staging_parts["inferServer"] == dev_server
    staging_fp = promotion.release_fingerprint(_settings(stacks, "staging"))
    staging = config_leaves(stacks, "staging")
    assert changed(before["staging"], staging) == {
        "mindie:inferServer.mindie_server_config.mies_install_path",
        "mindie:inferServer.mindie_server_config.infer_port",
        "mindie:inferServer.cross_node_num",
        "mindie:release.fingerprint",
    }
    assert staging["mindie:inferServer.mindie_server_config.infer_port"] == 2025
    assert "mindie:inferServer.cross_node_num" not in staging
    assert staging["mindie:release.fromStack"] == "dev"
    assert staging["mindie:release.fingerprint"] == staging_fp
    assert staging["mindie:inferServer.replicas"] == 2  # environment untouched
    assert "+      infer_port: 2025" in out and "-      infer_port: 1025" in out
    assert (stacks / "Pulumi.dev.yaml").read_bytes() == dev_bytes  # the source is never written
    assert config_leaves(stacks, "prod") == before["prod"]

    assert main(["promote", "--from", "staging", "--to", "prod", "--state-dir", str(gate_state)]) == 0
    prod = config_leaves(stacks, "prod")
    assert changed(before["prod"], prod) == {
        "mindie:inferServer.mindie_server_config.mies_install_path",
        "mindie:inferServer.mindie_server_config.infer_port",
        "mindie:release.fingerprint",
    }
    assert prod["mindie:release.fromStack"] == "staging"
    assert prod["mindie:release.fingerprint"] == staging_fp  # the whole release, Motor included
    for key in ("replicas", "scheduler", "termination_grace_period_seconds", "max_unavailable"):
        assert prod[f"mindie:inferServer.{key}"] == before["prod"][f"mindie:inferServer.{key}"]

    # the program exports what runs where
    result = preview_run_stack("prod", gate_state / "prod.json", project_dir=stacks)
    assert result.outputs["release"]["fingerprint"] == staging_fp
    assert result.outputs["release"]["fromStack"] == "staging"
    assert result.outputs["release"]["matchesRecord"] is True

    # a second promotion of the same release changes nothing
    snap = snapshot(stacks)
    assert main(["promote", "--from", "staging", "--to", "prod", "--state-dir", str(gate_state)]) == 0
    assert "already runs this release" in capsys.readouterr().out
    assert snapshot(stacks) == snap


def test_committed_stacks_promote_cleanly(stacks: Path, gate_state: Path, project_dir: Path, capsys):
    """The README's dry runs work on the committed files, byte for byte as committed."""
    names = ("dev", "staging", "prod")
    for name in names:
        committed = (project_dir / f"Pulumi.{name}.yaml").read_bytes()
        assert (stacks / f"Pulumi.{name}.yaml").read_bytes() == committed
    snap = snapshot(stacks)
    for source, target in (("dev", "staging"), ("staging", "prod")):
        code = main(
            ["promote", "--from", source, "--to", target, "--dry-run", "--state-dir", str(gate_state)]
        )
        captured = capsys.readouterr()
        assert code == 0, captured.out + captured.err
        assert "dry run: nothing written" in captured.out or "already runs this release" in captured.out
        assert "refused" not in captured.err
    assert snapshot(stacks) == snap
    # the ms-server image is the release: every stage runs the reference dev tested
    refs = {name: config_leaves(stacks, name)["mindie:msServer.image.reference"] for name in names}
    assert len(set(refs.values())) == 1, refs  # pinned by digest: prod runs only digests
    assert refs["prod"].startswith("registry.example.com/mindie/ms-server:motor-28a7e9f@sha256:"), refs


def test_comments_and_quotes_are_kept(stacks: Path, gate_state: Path):
    for old, new in NEW_RELEASE:
        edit(stacks, "dev", old, new)
    before = (stacks / "Pulumi.prod.yaml").read_text()
    result = promote("dev", "prod", force=True, state_dir=gate_state)
    after = (stacks / "Pulumi.prod.yaml").read_text()
    comments = [line.strip() for line in before.splitlines() if "#" in line]
    assert comments and all(c in after for c in comments)
    assert 'max_unavailable: "25%"' in after  # quoting style kept
    assert "this release moves the inference port" not in after  # the source's comments stay in the source
    # key order kept: the same keys in the same order, the record appended at the end
    assert top_keys(after) == [*top_keys(before), "mindie:release"]
    record = f"mindie:release:\n    fromStack: dev\n    fingerprint: {result.fingerprint}"
    assert after.rstrip().endswith(record)


def test_skipping_a_stage_is_refused_and_changes_nothing(stacks: Path, gate_state: Path, capsys):
    for old, new in NEW_RELEASE:
        edit(stacks, "dev", old, new)
    snap = snapshot(stacks)
    assert main(["promote", "--from", "dev", "--to", "prod", "--state-dir", str(gate_state)]) == 1
    err = capsys.readouterr().err
    assert "dev (dev) -> prod (prod) skips staging" in err and "--force" in err
    assert snapshot(stacks) == snap
    # going backwards too
    assert main(["promote", "--from", "prod", "--to", "staging", "--state-dir", str(gate_state)]) == 1
    assert "goes backwards" in capsys.readouterr().err
    assert snapshot(stacks) == snap
    # --force does it, and says so
    lines: list[str] = []
    result = promote("dev", "prod", force=True, state_dir=gate_state, log=lines.append)
    assert result.written and any("skips staging" in line and "(--force)" in line for line in lines)


def test_dry_run_prints_and_writes_nothing(stacks: Path, gate_state: Path, capsys):
    for old, new in NEW_RELEASE:
        edit(stacks, "dev", old, new)
    snap = snapshot(stacks)
    args = ["promote", "--from", "dev", "--to", "staging", "--dry-run", "--state-dir", str(gate_state)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "+      infer_port: 2025" in out and "dry run: nothing written" in out
    assert snapshot(stacks) == snap


def test_component_missing_in_the_target_is_named(stacks: Path, gate_state: Path, capsys):
    """A user's extra stack `qa` (environment staging) without mindie:motor: the warning names both stacks."""
    # dev's topology (no Motor) as a staging-environment stack: staging needs a root CA, so qa takes
    # staging's encrypted one (and its encryption salt) as a user would with `pulumi config cp`.
    qa = stackfile.read_document(stacks / "Pulumi.dev.yaml")
    staging = stackfile.read_document(stacks / "Pulumi.staging.yaml")
    qa.insert(0, "encryptionsalt", staging["encryptionsalt"])
    qa["config"]["mindie:environment"] = "staging"
    qa["config"]["mindie:tls"] = staging["config"]["mindie:tls"]
    qa["config"]["mindie:network"] = staging["config"]["mindie:network"]  # entry sources: required
    stackfile.write_document(stacks / "Pulumi.qa.yaml", qa)
    snap = snapshot(stacks)
    args = ["promote", "--from", "staging", "--to", "qa", "--dry-run", "--state-dir", str(gate_state)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "warning: mindie:motor is not configured in qa: not promoted, qa stays without it "
        "(configure it in both staging and qa to promote it)"
    ) in out
    assert "keeps its own" not in out and "both staging and staging" not in out
    assert snapshot(stacks) == snap


def test_failing_target_is_rolled_back(stacks: Path, gate_state: Path):
    """The target is written, gated, and restored byte for byte when the gate fails (e.g. a prod policy)."""
    for old, new in NEW_RELEASE:
        edit(stacks, "dev", old, new)
    snap = snapshot(stacks)
    seen: dict[str, str] = {}

    def gate(stack: str, project_dir, state_dir) -> list[str]:
        seen[stack] = ((project_dir or stacks) / f"Pulumi.{stack}.yaml").read_text()
        if stack == "staging":  # gated as a staged candidate: the real target is untouched meanwhile
            assert (stacks / "Pulumi.staging.yaml").read_bytes() == snap["Pulumi.staging.yaml"]
        return ["policy: images must be pinned by digest in staging"] if stack == "staging" else []

    with pytest.raises(PromotionError) as info:
        promote("dev", "staging", state_dir=gate_state, gate=gate)
    assert "not changed" in str(info.value) and "pinned by digest" in str(info.value)
    assert "infer_port: 2025" in seen["staging"]  # the gate saw the promoted file
    assert snapshot(stacks) == snap


def test_failing_source_is_refused(stacks: Path, gate_state: Path):
    snap = snapshot(stacks)
    with pytest.raises(PromotionError) as info:
        promote(
            "dev",
            "staging",
            state_dir=gate_state,
            gate=lambda stack, *_: ["a manifest fails"] if stack == "dev" else [],
        )
    assert "source stack dev fails the gate" in str(info.value)
    assert snapshot(stacks) == snap


def test_invalid_target_is_refused_before_writing(stacks: Path, gate_state: Path, capsys):
    edit(stacks, "staging", "replicas: 2", "replicas: 0")
    snap = snapshot(stacks)
    assert main(["promote", "--from", "dev", "--to", "staging", "--state-dir", str(gate_state)]) == 1
    assert "mindie:inferServer.replicas = 0: out of range" in capsys.readouterr().err
    assert snapshot(stacks) == snap


def test_real_gate_rejects_invalid_source(stacks: Path, gate_state: Path):
    assert promote_mod.gate_problems("dev", stacks, gate_state) == []
    edit(stacks, "dev", "npu_chip_num: 1", "npu_chip_num: 9")
    problems = promote_mod.gate_problems("dev", stacks, gate_state)
    assert any("npu_chip_num = 9" in p for p in problems)


def test_stack_in_stackreference_mode_is_refused(stacks: Path, gate_state: Path):
    edit(
        stacks,
        "staging",
        "  mindie:inferServer:\n",
        "  mindie:releaseFrom: acme/mindie/dev\n  mindie:inferServer:\n",
    )
    snap = snapshot(stacks)
    with pytest.raises(PromotionError, match="StackReference"):
        promote("dev", "staging", state_dir=gate_state)
    assert snapshot(stacks) == snap


def test_secret_release_values_are_refused():
    """Each stack encrypts its secrets with its own key: a ciphertext cannot be copied across stacks."""
    src = {"mindie:inferServer": {"mindie_server_config": {"secure": "v1:abc"}, "replicas": {"secure": "x"}}}
    assert promote_mod._secure_release_values(src) == ["mindie:inferServer.mindie_server_config"]


def test_same_stack_is_refused(stacks: Path):
    with pytest.raises(PromotionError, match="both 'dev'"):
        promote("dev", "dev")


def _settings(folder: Path, stack: str):
    from mindiectl import stackfile
    from stacks.settings.stack import load_settings

    cfg = stackfile.load(stack, folder)
    return load_settings(cfg.config.get, list(cfg.config), cfg.secret_keys)


def test_edited_release_after_promotion_is_visible(stacks: Path, gate_state: Path):
    promote("dev", "staging", state_dir=gate_state)
    edit(stacks, "staging", "management_port: 1026", "management_port: 1030")
    result = preview_run_stack("staging", gate_state / "staging.json", project_dir=stacks)
    assert result.outputs["release"]["fromStack"] == "dev"
    assert result.outputs["release"]["matchesRecord"] is False
    server = result.outputs["release"]["settings"]["inferServer"]["mindie_server_config"]
    assert server["management_port"] == 1030


def test_real_gate_is_the_policy_check(stacks: Path, gate_state: Path):
    """A source that breaks a mandatory policy (TLS off in staging) is refused by the real gate."""
    edit(stacks, "staging", "enable_tls: true", "enable_tls: false")
    snap = snapshot(stacks)
    assert promote_mod.GATE == "check"
    with pytest.raises(PromotionError) as info:
        promote("staging", "prod", state_dir=gate_state)
    assert "source stack staging fails the gate (check)" in str(info.value)
    assert "tls-enabled" in str(info.value)
    assert snapshot(stacks) == snap
