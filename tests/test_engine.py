"""The real-engine tier (`python -m pytest -m engine -q`; `.ci/run` runs it after tools/engine/build).

For every committed stack, in a temporary copy of the project (the user's repository is never
written), with a file:// backend and the passphrase secrets provider:
  pulumi preview and pulumi up with the policy pack (policy/<env>.json levels), the Kubernetes
  provider rendering YAML to a directory; the differential test (what the real provider rendered
  = what `mindiectl preview` writes, up to LIVE_ONLY; stack outputs and the policy pack's verdicts
  too); no private key in plain text in the state; the CA chain it rendered passes
  `openssl verify -x509_strict`; an update of the replica count is in place and rolls only pods whose
  configuration changed; pulumi destroy (dev/staging remove everything, prod's protected resources
  stop it).

What is real and what is not (docs/engine.md): the Pulumi CLI/engine, the Python SDK and the
Kubernetes provider are the real ones; the language host is a minimal one of ours and
pulumi-resource-tls is a stand-in serving mindiectl's TLS emulator, because the Go module proxy
refuses those modules.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[1]
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
RENDER_FORBIDDEN = ("staging", "prod")  # environments whose provider must not render YAML (policy)
DEMO_PASSPHRASE = "mindie-demo-passphrase"  # the committed stacks' documented demo passphrase
PROJECT_FILES = (
    "Pulumi.yaml",
    "__main__.py",
    "requirements.txt",
    "components",
    "stacks",
    "domain",
    "mindiectl",
    "policy",
    "images",
)

# Values only a live cluster (or a fresh key) knows, which the differential test does not compare:
# key material and certificates are generated anew by each run (the engine's and mindiectl's), and
# so are the sha256 checksums of what pods mount that include them.
LIVE_ONLY = (
    "Secret data/stringData values (generated keys and certificates; keys and shape are compared)",
    "pod template annotation checksum/tls (sha256 of the generated certificates)",
    "stack outputs tlsChecksum, tlsNotAfter, tlsSerials (of the generated certificates; keys compared)",
)
# What may change with inferServer.replicas: the server Deployment's replica count, and the bounds of
# its PodDisruptionBudget (derived from the count); nothing in a pod template.
REPLICA_DEPENDENT = {
    "kubernetes:apps/v1:Deployment": {"spec.replicas"},
    "kubernetes:policy/v1:PodDisruptionBudget": {"spec.minAvailable", "spec.maxUnavailable"},
}
ROLL_ON_CONFIG = {"spec.template.metadata.annotations.checksum/config"}
"""A Deployment's pods roll when the configuration they mount changes (and only then)."""
GENERATED_OUTPUTS = ("tlsChecksum", "tlsNotAfter", "tlsSerials")


# --- the engine --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    """tools/engine/build's folder (a no-op when the cache is warm; .ci/run runs it first)."""
    proc = subprocess.run([str(ROOT / "tools" / "engine" / "build")], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"tools/engine/build failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    folder = Path(proc.stdout.strip().splitlines()[-1])
    assert (folder / "pulumi").exists(), f"tools/engine/build printed {folder}, which holds no pulumi"
    return folder


class Project:
    """A temporary copy of the project with one stack, and the pulumi CLI run inside it."""

    def __init__(self, tmp: Path, engine_bin: Path, stack: str, root: Path = ROOT):
        self.stack = stack
        self.dir = tmp / "project"
        self.rendered = self.dir / "build" / stack / "rendered"
        self.copy_program(root)
        shutil.copy2(root / f"Pulumi.{stack}.yaml", self.dir / f"Pulumi.{stack}.yaml")
        home = tmp / "pulumi-home"
        home.mkdir()
        self.env = {
            **os.environ,
            "PATH": f"{engine_bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PULUMI_HOME": str(home),
            "PULUMI_CONFIG_PASSPHRASE": DEMO_PASSPHRASE,
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_PYTHON_CMD": sys.executable,
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "NO_COLOR": "1",
        }
        self.env.pop("PULUMI_ACCESS_TOKEN", None)
        self.env.pop("PULUMI_BACKEND_URL", None)
        state = tmp / "state"
        state.mkdir()
        self.pulumi("login", f"file://{state}", stack=False)
        self.pulumi("stack", "init", stack, "--secrets-provider", "passphrase", stack=False)
        self.render_to_directory()

    def copy_program(self, root: Path) -> None:
        """The program of `root` (replacing the copy's), keeping the stack file and the state."""
        for name in PROJECT_FILES:
            src, dst = root / name, self.dir / name
            if dst.is_dir():
                shutil.rmtree(dst)
            elif dst.exists():
                dst.unlink()
            if src.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "venv", "build", ".mindie")
                shutil.copytree(src, dst, ignore=ignore)
            elif src.exists():
                self.dir.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        # Pulumi.yaml and policy/PulumiPolicy.yaml name `virtualenv: venv`: point both at the
        # interpreter running the tests, inside the copy only.
        for where in (self.dir, self.dir / "policy"):
            if not os.path.lexists(where / "venv"):
                link_virtualenv(where / "venv")

    def pulumi(self, *args: str, stack: bool = True, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [*args, "--non-interactive"] + (["--stack", self.stack] if stack else [])
        proc = subprocess.run(
            ["pulumi", *cmd], cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=1200
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"pulumi {' '.join(cmd)} exited {proc.returncode}:\n"
                f"{essentials(proc.stdout)}\n{proc.stderr[-3000:]}"
            )
        return proc

    def render_to_directory(self) -> None:
        """The e2e override: the Kubernetes provider renders YAML (dev's committed target already)."""
        target = self.config().get("mindie:kubernetes", {})
        wanted = str(self.rendered.relative_to(self.dir))
        if target != {"renderYamlToDirectory": wanted}:
            self.pulumi("config", "rm", "mindie:kubernetes")
            self.pulumi("config", "set", "--path", "mindie:kubernetes.renderYamlToDirectory", wanted)

    def config(self) -> dict[str, Any]:
        out = self.pulumi("config", "--json").stdout
        return {
            k: (json.loads(v["value"]) if v.get("objectValue") is not None else v.get("value"))
            for k, v in json.loads(out).items()
        }

    def policy_args(self) -> list[str]:
        """The pack with policy/<env>.json. Staging and prod must talk to a cluster, which the
        mandatory `environment-consistent` rule enforces: the render override breaks it on purpose,
        so here (only) that rule is advisory, and the tier checks that it still reports the override."""
        env = self.config()["mindie:environment"]
        levels = json.loads((self.dir / "policy" / f"{env}.json").read_text())
        if env in RENDER_FORBIDDEN:
            levels["environment-consistent"] = {"enforcementLevel": "advisory"}
        path = self.dir.parent / f"policy-{env}.json"
        path.write_text(json.dumps(levels))
        return ["--policy-pack", "policy", "--policy-pack-config", str(path)]

    def rendered_objects(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        return objects_in(self.rendered)

    def resources(self) -> list[dict[str, Any]]:
        exported = json.loads(self.pulumi("stack", "export").stdout)
        return exported["deployment"].get("resources") or []


def essentials(output: str) -> str:
    """The Policies and Diagnostics sections of a pulumi run (else its tail): what failed."""
    start = min((i for i in (output.find("Policies:"), output.find("Diagnostics:")) if i >= 0), default=-1)
    end = output.find("Outputs:", start) if start >= 0 else -1
    return output[start : end if end > start else start + 8000] if start >= 0 else output[-6000:]


RENDER_OVERRIDE_FINDINGS = {("environment-consistent", "mandatory"), ("environment-consistent", "advisory")}
"""The render override's own finding in staging/prod (advisory here, see Project.policy_args)."""


def engine_violations(output: str) -> set[tuple[str, str]]:
    """(rule, level) of every violation a pulumi run's Policies section lists."""
    found = set(re.findall(r"- \[(advisory|mandatory)\] \[severity: \w+\]\s+([\w-]+)", output))
    return {(rule, level) for level, rule in found} - RENDER_OVERRIDE_FINDINGS


def link_virtualenv(venv: Path) -> None:
    """`venv` = the interpreter running the tests: its virtualenv, or else a virtualenv shell over
    it that sees its packages (include-system-site-packages)."""
    if sys.prefix != sys.base_prefix:
        venv.symlink_to(sys.prefix, target_is_directory=True)
        return
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / "pyvenv.cfg").write_text(
        f"home = {Path(sys.executable).parent}\ninclude-system-site-packages = true\n"
    )


def objects_in(folder: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(kind, namespace, name) -> object for every YAML document under folder."""
    found = {}
    for path in sorted(folder.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                meta = doc.get("metadata") or {}
                found[(doc["kind"], meta.get("namespace", ""), meta["name"])] = doc
    return found


# --- comparing ---------------------------------------------------------------------------------


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without the LIVE_ONLY values (see the list at the top)."""
    obj = json.loads(json.dumps(obj))
    if obj.get("kind") == "Secret":
        for field in ("data", "stringData"):
            if field in obj:
                obj[field] = {k: "<generated>" for k in obj[field]}
        # The provider renders stringData as base64 data, as the API server would store it.
        if "stringData" in obj:
            obj.setdefault("data", {}).update(obj.pop("stringData"))
    template = (obj.get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    if "checksum/tls" in annotations:
        annotations["checksum/tls"] = "<generated>"
    return obj


def differences(real: Any, offline: Any, path: str = "") -> list[str]:
    """Every path where two decoded YAML documents differ, with both values."""
    if isinstance(real, dict) and isinstance(offline, dict):
        return [
            d
            for k in sorted(set(real) | set(offline), key=str)
            for d in differences(real.get(k, "<absent>"), offline.get(k, "<absent>"), f"{path}.{k}")
        ]
    if isinstance(real, list) and isinstance(offline, list) and len(real) == len(offline):
        pairs = enumerate(zip(real, offline, strict=True))
        return [d for i, (a, b) in pairs for d in differences(a, b, f"{path}[{i}]")]
    return [] if real == offline else [f"{path or '.'}: {real!r} != {offline!r}"]


def comparable_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(outputs))
    for name in GENERATED_OUTPUTS:
        if isinstance(out.get(name), dict):
            out[name] = sorted(out[name])
        elif name in out:
            out[name] = "<generated>"
    return out


def secret_values(obj: dict[str, Any]) -> dict[str, str]:
    values = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    values.update(obj.get("stringData") or {})
    return values


def openssl_verify(
    tmp: Path, ca: str, cert: str, untrusted: str | None = None
) -> subprocess.CompletedProcess:
    (tmp / "ca.pem").write_text(ca)
    (tmp / "cert.pem").write_text(cert)
    cmd = ["openssl", "verify", "-x509_strict", "-CAfile", str(tmp / "ca.pem")]
    if untrusted:
        (tmp / "untrusted.pem").write_text(untrusted)
        cmd += ["-untrusted", str(tmp / "untrusted.pem")]
    return subprocess.run([*cmd, str(tmp / "cert.pem")], capture_output=True, text=True)


# --- the tier ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_engine_lifecycle(stack: str, engine_bin: Path, tmp_path: Path):
    project = Project(tmp_path, engine_bin, stack)
    policy = project.policy_args()

    preview = project.pulumi("preview", *policy)
    assert "mindie@v" in preview.stdout, f"the policy pack did not run:\n{preview.stdout[-3000:]}"
    if project.config()["mindie:environment"] in RENDER_FORBIDDEN:
        assert "nothing would reach the cluster" in preview.stdout, preview.stdout[-3000:]
    assert not project.rendered.exists() or not any(project.rendered.rglob("*.yaml")), (
        "preview must not render anything"
    )

    up = project.pulumi("up", "--yes", "--skip-preview", *policy)
    # Secrets only as Pulumi secrets: the state holds no key in plain text (the generated keys, the
    # root CA key from config, and the stack config the dynamic-provider host receives).
    exported = project.pulumi("stack", "export").stdout
    assert "PRIVATE KEY-----" not in exported, "the stack's state holds a private key in plain text"
    rendered = project.rendered_objects()
    assert rendered, f"pulumi up rendered nothing under {project.rendered}"

    # Differential: the offline preview of the same stack writes the same objects.
    offline_dir = tmp_path / "offline"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mindiectl",
            "preview",
            "--stack",
            stack,
            "--quiet",
            "--out",
            str(offline_dir),
        ],
        cwd=project.dir,
        env=project.env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    offline = objects_in(offline_dir / "manifests")
    assert sorted(rendered) == sorted(offline)
    found = [
        f"{key}: {d}"
        for key in rendered
        for d in differences(comparable(rendered[key]), comparable(offline[key]))
    ]
    assert not found, (
        f"{stack}: the real engine renders (left) what mindiectl does not (right):\n" + "\n".join(found)
    )

    real_outputs = json.loads(project.pulumi("stack", "output", "--json").stdout)
    offline_outputs = json.loads((offline_dir / "outputs.json").read_text())
    found = differences(comparable_outputs(real_outputs), comparable_outputs(offline_outputs))
    assert not found, f"{stack}: stack outputs, real (left) vs mindiectl:\n" + "\n".join(found)

    # The policy pack's verdicts: what `pulumi up` reported = what `mindiectl check` reports.
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "mindiectl",
            "check",
            "--stack",
            stack,
            "--quiet",
            "--out",
            str(tmp_path / "check"),
        ],
        cwd=project.dir,
        env=project.env,
        capture_output=True,
        text=True,
    )
    report = json.loads((tmp_path / "check" / "policy.json").read_text())
    offline_rules = {(v["rule"], v["level"]) for v in report["violations"]} - RENDER_OVERRIDE_FINDINGS
    assert engine_violations(up.stdout) == offline_rules, check.stdout[-2000:]

    check_certificates(rendered, tmp_path)

    # An unchanged stack: the engine plans no change at all.
    again = json.loads(project.pulumi("preview", "--json", *policy).stdout)
    changed = {s["urn"] for s in again.get("steps", []) if s["op"] != "same"}
    assert not changed, f"an unchanged stack plans changes: {sorted(changed)}"

    check_replicas_update(project, policy)
    check_destroy(project)


def check_certificates(rendered: dict, tmp: Path) -> None:
    """The rendered certificates pass the offline checks (tests/test_ca.py): each identity Secret's
    cert.pem (leaf + intermediate) verifies against its ca.pem (the root), each CA of the server-CA
    Secret against itself, all under `openssl verify -x509_strict`."""
    verified = []
    for (kind, _, name), obj in sorted(rendered.items()):
        if kind != "Secret":
            continue
        values = secret_values(obj)
        if "cert.pem" in values and "ca.pem" in values:
            pairs = [(values["ca.pem"], values["cert.pem"])]
        else:
            pairs = [(v, v) for k, v in sorted(values.items()) if k.endswith("ca.pem")]
        for ca, cert in pairs:
            proc = openssl_verify(tmp, ca, cert, untrusted=cert)
            assert proc.returncode == 0, f"Secret {name}: {proc.stdout}{proc.stderr}"
            verified.append(name)
    assert verified, "no certificate Secret was rendered"


def check_replicas_update(project: Project, policy: list[str]) -> None:
    before = project.rendered_objects()
    server = project.config()["mindie:inferServer"]
    replicas = int(server["replicas"]) + 1
    project.pulumi("config", "set", "--path", "mindie:inferServer.replicas", str(replicas))
    plan = json.loads(project.pulumi("preview", "--json", *policy).stdout)
    changed = {s["urn"].split("::")[-1]: s for s in plan.get("steps", []) if s["op"] != "same"}
    assert changed, "raising the replica count plans no change"
    summary = "\n".join(
        f"{n}: {st['op']} {sorted(st.get('detailedDiff') or {})}" for n, st in changed.items()
    )
    config_changed = False
    for name, step in changed.items():
        # In place only: a replacement deletes the object (a Deployment's pods all at once).
        assert step["op"] == "update", f"{name}: {step['op']}, only in-place updates expected:\n{summary}"
        kind = step["newState"]["type"]
        diff = set(step.get("detailedDiff") or {})
        assert diff, f"{name}: update without a diff:\n{summary}"
        if kind == "kubernetes:core/v1:ConfigMap":
            config_changed = True
            assert all(d.startswith("data") for d in diff), summary
            continue
        assert kind in REPLICA_DEPENDENT, f"{name} ({kind}) changes with the replica count:\n{summary}"
        assert diff <= REPLICA_DEPENDENT[kind] | ROLL_ON_CONFIG, f"{name}: {sorted(diff)}"
        if diff & ROLL_ON_CONFIG:  # pods roll only because what they mount changed
            assert config_changed or any(
                s["newState"]["type"] == "kubernetes:core/v1:ConfigMap" for s in changed.values()
            ), f"{name} rolls without a config change"
    project.pulumi("up", "--yes", "--skip-preview", *policy)
    after = project.rendered_objects()
    assert sorted(after) == sorted(before)
    for key, obj in after.items():
        if obj == before[key] or key[0] != "Deployment":
            continue
        old_template, new_template = before[key]["spec"]["template"], obj["spec"]["template"]
        if obj["spec"].get("replicas") != before[key]["spec"].get("replicas"):
            assert obj["spec"]["replicas"] == replicas
        if new_template != old_template:  # a roll: only the config checksum differs
            found = differences(new_template, old_template)
            assert all(".annotations.checksum/config" in d for d in found), f"{key}: {found}"


def check_destroy(project: Project) -> None:
    protected = [r for r in project.resources() if r.get("protect")]
    proc = project.pulumi("destroy", "--yes", "--skip-preview", check=False)
    if project.config()["mindie:environment"] == "prod":
        assert protected, "prod protects its stateful resources (docs/lifecycle.md)"
        assert proc.returncode != 0, "destroy of prod must stop at protected resources"
        assert "protected" in (proc.stdout + proc.stderr)
    else:
        assert not protected
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert not project.resources(), "dev/staging destroy leaves resources in the stack"
        assert not any(project.rendered.rglob("*.yaml")), "destroy leaves rendered manifests behind"


# --- upgrading a stack made by an earlier program ------------------------------------------------

BEFORE_MOTOR_SPLIT = "bb34457"
"""main before issue 15: Motor was one component, its programs' instance label the namespace."""
MOTOR_DEPLOYMENTS = {"mindie-ms-coordinator", "mindie-ms-controller"}


def kubernetes_steps(preview_json: str) -> dict[str, list[tuple[str, str, list[str]]]]:
    """op -> (type, name, reasons) of every Kubernetes object step of `pulumi preview --json`."""
    found: dict[str, list[tuple[str, str, list[str]]]] = {}
    for step in json.loads(preview_json).get("steps", []):
        kind = step["urn"].split("::")[-2].split("$")[-1]
        if kind.startswith("kubernetes:") and not kind.startswith("pulumi:providers"):
            reasons = step.get("replaceReasons") or step.get("diffReasons") or []
            found.setdefault(step["op"], []).append((kind, step["urn"].split("::")[-1], reasons))
    return found


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_upgrade_from_before_the_motor_split(stack: str, engine_bin: Path, tmp_path: Path):
    """`pulumi up` with the program before the Motor split, then a preview with this one: the aliases
    keep every moved object (no Kubernetes object created or deleted); only the two Motor Deployments
    are replaced, for their selector's instance label (docs/lifecycle.md)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE_MOTOR_SPLIT], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"commit {BEFORE_MOTOR_SPLIT} is not in this clone's history (a shallow clone)")
    old = tmp_path / "old"
    old.mkdir()
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    project = Project(tmp_path, engine_bin, stack, root=old)
    project.pulumi("up", "--yes", "--skip-preview")
    project.copy_program(ROOT)
    steps = kubernetes_steps(project.pulumi("preview", "--json").stdout)
    assert steps.get("create", []) == [] and steps.get("delete", []) == [], steps
    replaced = {(kind, name): reasons for kind, name, reasons in steps.get("replace", [])}
    assert set(replaced) == {("kubernetes:apps/v1:Deployment", n) for n in MOTOR_DEPLOYMENTS}, replaced
    for reasons in replaced.values():
        assert reasons == ['spec.selector.matchLabels["app.kubernetes.io/instance"]'], reasons
    # what moved under Coordinator, Controller and RanktableWriter is updated in place (labels)
    assert len(steps.get("update", [])) >= 9, steps.get("update")
