"""`mindiectl check`: the pack over every committed stack, and the changes it must stop."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel

from mindiectl import stackfile
from mindiectl.__main__ import main
from mindiectl.check import check, load_pack, resolve_config, table
from mindiectl.runtime import Resource, RunResult
from policy.rules import RULES

from .helpers import STACKS, environment_of
from .policy_fixtures import CLUSTERROLE, DEPLOYMENT, MS_ROLE_RULES, deployment


def run_check(stack: str, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "out"
    code = main(["check", "--stack", stack, "--out", str(out), "--state", str(tmp_path / "s.json"), *extra])
    return code, json.loads((out / "policy.json").read_text())


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_passes(stack: str, tmp_path: Path, capsys):
    code, report = run_check(stack, tmp_path)
    printed = capsys.readouterr().out
    assert code == 0, printed
    env = environment_of(stack)  # a stack's name need not be its environment
    assert report["passed"] and report["environment"] == env
    assert report["policyConfig"] == f"policy/{env}.json"
    assert set(report["policies"]) == {r.name for r in RULES}
    assert not [v for v in report["violations"] if v["level"] == "mandatory"]
    assert (tmp_path / "out" / "manifests" / "namespace.mindie.yaml").exists()
    assert f"Policy check of stack {stack} ({env}, policy/{env}.json): passed" in printed


def test_levels_follow_the_environment(tmp_path: Path):
    _, dev = run_check("dev", tmp_path / "dev")
    _, prod = run_check("prod", tmp_path / "prod")
    assert dev["policies"]["workload-read-only-root"] == "advisory"
    assert dev["policies"]["rbac-no-wildcards"] == "mandatory"
    assert prod["policies"]["workload-read-only-root"] == "mandatory"
    assert (
        dev["policies"]["hostpath-volumes"] == "advisory"
        and prod["policies"]["hostpath-volumes"] == "mandatory"
    )


def test_prod_without_tls_fails_naming_the_rule(tmp_path: Path, stack_copy: Path, capsys):
    prod = stack_copy / "Pulumi.prod.yaml"
    assert "enable_tls: true" in prod.read_text()
    prod.write_text(prod.read_text().replace("enable_tls: true", "enable_tls: false"))
    code, report = run_check("prod", tmp_path)
    printed = capsys.readouterr().out
    assert code == 1
    assert "tls-enabled" in printed and "FAILED" in printed
    tls = [v for v in report["violations"] if v["rule"] == "tls-enabled"]
    assert tls and all(v["level"] == "mandatory" for v in tls)
    assert any("enableTls = False in prod" in v["message"] for v in tls)


def test_dev_without_tls_passes(tmp_path: Path, stack_copy: Path):
    dev = stack_copy / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("enable_tls: true", "enable_tls: false"))
    code, report = run_check("dev", tmp_path)
    assert code == 0 and not [v for v in report["violations"] if v["rule"] == "tls-enabled"]


def _a(result: RunResult, type_: str, make) -> Resource:
    """The run's first resource of a type, else a synthetic one appended (until its component lands)."""
    found = result.by_type(type_)
    if found:
        return found[0]
    props = make()
    name = props["metadata"]["name"]
    resource = Resource(
        urn=f"urn:pulumi:{result.stack}::mindie::{type_}::{name}",
        type=type_,
        name=name,
        parent="",
        custom=True,
        inputs=props,
        outputs=copy.deepcopy(props),
    )
    result.resources.append(resource)
    return resource


def _both(resource: Resource, edit) -> None:
    """Edit a resource's inputs (what resource rules see) and outputs (what stack rules see)."""
    edit(resource.inputs)
    edit(resource.outputs)


def test_hostpath_under_home_fails_naming_the_rule(run_stack):
    result = run_stack("prod")
    assert check(result).passed
    d = _a(result, DEPLOYMENT, lambda: deployment("coordinator", npu=None))
    _both(
        d,
        lambda p: (
            p["spec"]["template"]["spec"]
            .setdefault("volumes", [])
            .append({"name": "models", "hostPath": {"path": "/home/mindie/models", "type": "Directory"}})
        ),
    )
    report = check(result)
    assert not report.passed
    bad = [f for f in report.mandatory if f.rule == "hostpath-forbidden"]
    assert bad and "hostPath '/home/mindie/models' is under /home" in bad[0].message
    assert bad[0].resource == d.name
    assert "hostpath-forbidden" in table(report.findings)


def test_hostpath_mode_is_advisory_in_dev(run_stack):
    result = run_stack("dev")
    d = _a(result, DEPLOYMENT, lambda: deployment("server"))
    _both(
        d,
        lambda p: (
            p["spec"]["template"]["spec"]
            .setdefault("volumes", [])
            .append(
                {"name": "models", "hostPath": {"path": "/mnt/mindie-service/ms/model", "type": "Directory"}}
            )
        ),
    )
    report = check(result)
    found = [f for f in report.findings if f.rule == "hostpath-volumes"]
    assert found and found[0].level == "advisory"
    assert report.passed, table(report.mandatory)


def _ms_role(result: RunResult) -> Resource:
    """The run's ClusterRole, else a copy of the seed's ms-role (the Deployer's RBAC)."""
    return _a(
        result,
        CLUSTERROLE,
        lambda: {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "ms-role"},
            "rules": copy.deepcopy(MS_ROLE_RULES),
        },
    )


def test_wildcard_rbac_verb_fails_naming_the_rule(run_stack):
    result = run_stack("prod")
    role = _ms_role(result)
    _both(role, lambda p: p["rules"][0].update(verbs=["*"]))
    report = check(result)
    assert not report.passed
    wild = [f for f in report.mandatory if f.rule == "rbac-no-wildcards"]
    assert wild and "verbs contains '*'" in wild[0].message and wild[0].resource == role.name


def test_wildcard_rbac_is_mandatory_even_in_dev(run_stack):
    result = run_stack("dev")
    role = _ms_role(result)
    _both(role, lambda p: p["rules"][0].update(resources=["*"]))
    assert [f.rule for f in check(result).mandatory] == ["rbac-no-wildcards"]


def test_schema_error_fails(run_stack):
    result = run_stack("dev")
    ns = result.one("kubernetes:core/v1:Namespace")
    ns.inputs["spec"] = {"finalizers": ["kubernetes"], "bogus": True}
    report = check(result)
    assert [f.rule for f in report.mandatory] == ["kubernetes-schema"]
    assert "namespace.mindie.yaml" in report.mandatory[0].message


def test_resource_rules_see_inputs_stack_rules_see_outputs(run_stack):
    result = run_stack("prod")
    result.outputs["enableTls"] = False  # stack outputs: the stack rule sees them
    d = _a(result, DEPLOYMENT, lambda: deployment("coordinator", npu=None))
    d.outputs = copy.deepcopy(d.outputs)  # the emulator shares nested objects between inputs and outputs
    d.outputs["spec"]["template"]["spec"]["hostNetwork"] = (
        True  # outputs only: resource rules must not see it
    )
    report = check(result)
    rules = {f.rule for f in report.mandatory}
    assert "tls-enabled" in rules and "workload-no-host-namespaces" not in rules


def test_resolve_config_precedence():
    pack = load_pack()
    resolved = resolve_config(
        pack,
        {
            "all": "advisory",
            "tls-enabled": {"enforcementLevel": "mandatory"},
            "hostpath-volumes": {"allowedHostPaths": ["/mnt"]},
        },
    )
    assert resolved["tls-enabled"] == (EnforcementLevel.MANDATORY, {})
    assert resolved["hostpath-volumes"] == (EnforcementLevel.ADVISORY, {"allowedHostPaths": ["/mnt"]})
    assert resolved["workload-non-root"][0] is EnforcementLevel.ADVISORY
    assert (
        resolve_config(pack, {})["workload-non-root"][0] is EnforcementLevel.MANDATORY
    )  # the rule's default
    with pytest.raises(ValueError, match="unknown policies"):
        resolve_config(pack, {"no-such-rule": "mandatory"})


def test_disabled_rule_is_not_run(run_stack, tmp_path: Path, project_dir: Path):
    result = run_stack("prod")
    result.outputs["enableTls"] = False
    config = json.loads((project_dir / "policy" / "prod.json").read_text())
    config["tls-enabled"] = {"enforcementLevel": "disabled"}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(config))
    report = check(result, config_path=path)
    assert report.passed and "tls-enabled" not in {f.rule for f in report.findings}
    assert report.evaluated["tls-enabled"] == "disabled"


def test_ci_checks_every_committed_stack(project_dir: Path):
    ci = (project_dir / ".ci" / "run").read_text()
    assert 'python -m mindiectl check --stack "$stack"' in ci
    assert "for stack_file in Pulumi.*.yaml" in ci


def test_check_says_what_it_is_doing_unless_quiet(tmp_path, capsys):
    """A check takes seconds: each step is announced on stderr (stdout stays the report)."""
    args = ["check", "--stack", "dev", "--out", str(tmp_path / "out"), "--state", str(tmp_path / "s.json")]
    assert main(args) == 0
    captured = capsys.readouterr()
    steps = [line.split("] ", 1)[1] for line in captured.err.splitlines() if line.startswith("[")]
    assert steps == [
        "check dev: running the program offline",
        "check dev: policies, strict schema, hadolint",
        f"check dev: writing {tmp_path / 'out'}",
    ]
    assert "running the program" not in captured.out
    assert main([*args, "--quiet"]) == 0
    assert "check dev:" not in capsys.readouterr().err


# --------------------------------------------------------------------------- a release that cannot be read


@pytest.fixture
def release_from_dev(stack_copy: Path) -> Path:
    """A copy of the stacks where staging reads its release from dev (`mindie:releaseFrom`),
    a stack never previewed there: no build/dev/outputs.json to answer the StackReference."""
    path = stack_copy / "Pulumi.staging.yaml"
    doc = stackfile.read_document(path)
    doc["config"]["mindie:releaseFrom"] = "acme/mindie/dev"
    stackfile.write_document(path, doc)
    return stack_copy


def clean_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    named = "error: mindie:releaseFrom = 'acme/mindie/dev': StackReference 'acme/mindie/dev': "
    assert err.startswith(named), err
    assert "build/dev/outputs.json" in err and "python -m mindiectl preview --stack dev" in err
    return err


@pytest.mark.parametrize("dev_outputs", [None, "{not json", "[]"], ids=["absent", "not-json", "not-object"])
def test_check_of_an_unreadable_release_is_a_message(
    release_from_dev: Path, tmp_path: Path, capsys, dev_outputs: str | None
):
    """`check` runs the program through the same run-or-exit helper as `preview`: a StackReference
    it cannot answer is one `error:` line naming the setting, exit 2, no traceback, nothing written."""
    if dev_outputs is not None:
        (release_from_dev / "build" / "dev").mkdir(parents=True)
        (release_from_dev / "build" / "dev" / "outputs.json").write_text(dev_outputs)
    out = tmp_path / "out"
    args = ["--stack", "staging", "--quiet", "--out", str(out), "--state", str(tmp_path / "s.json")]
    assert main(["check", *args]) == 2
    err = clean_error(capsys)
    assert ("holds no outputs" in err) == (dev_outputs is not None)
    assert not out.exists()
    if dev_outputs is None:  # the other commands that run the program say the same
        assert main(["preview", *args]) == 2
        assert clean_error(capsys) == err
        assert main(["graph", "--stack", "staging"]) == 2
        clean_error(capsys)
