"""`mindiectl check --stack <name>`: the offline `pulumi preview --policy-pack policy`.

Runs the offline preview (same program, same mock runtime as `mindiectl preview`),
then evaluates every policy of the pack in `policy/` the way the Pulumi engine's
analyzer does, through pulumi_policy's own types:

- each ResourceValidationPolicy is called once per registered resource with a
  `ResourceValidationArgs` whose props are the resource's INPUTS, wrapped in
  pulumi_policy's unknown-checking proxy, and whose options carry the secret
  paths the recording monitor saw;
- each StackValidationPolicy is called once with a `StackValidationArgs` over
  every resource's OUTPUTS (plus the stack resource with the stack outputs),
  parents and dependencies linked as the engine links them.

Enforcement levels come from `policy/<environment>.json` (the file passed to
`pulumi preview --policy-pack-config`), where the environment is the stack
output `environment`. Every manifest is also validated against the Kubernetes
OpenAPI schemas in strict mode. Prints a table, writes build/<stack>/policy.json
and exits 1 on any mandatory violation or schema error (2 on a bad config).
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from dataclasses import asdict, dataclass
from inspect import isawaitable
from pathlib import Path
from typing import Any, Optional

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from domain.numbers import integral

from . import image_files, progress
from .render import STACK_TYPE, is_manifest, manifest_filename
from .runtime import PROJECT_DIR, Resource, RunResult
from .schema import schema_errors
from .stack_run import add_run_arguments, run_and_write, run_or_exit

POLICY_DIR = PROJECT_DIR / "policy"
SCHEMA_RULE = "kubernetes-schema"
HADOLINT_RULE = "hadolint"
CONTRACT_RULE = "mindie-contract"


@dataclass
class Finding:
    rule: str
    level: str
    resource: str
    message: str
    urn: str = ""


@dataclass
class Report:
    stack: str
    environment: str
    policy_config: str
    findings: list[Finding]
    evaluated: dict[str, str]
    """policy name -> effective enforcement level."""

    @property
    def mandatory(self) -> list[Finding]:
        return [f for f in self.findings if f.level == EnforcementLevel.MANDATORY.value]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "environment": self.environment,
            "policyConfig": self.policy_config,
            "passed": self.passed,
            "policies": self.evaluated,
            "violations": [asdict(f) for f in self.findings],
        }


def load_pack() -> list[Policy]:
    """The pack's policies, exactly as policy/__main__.py hands them to PolicyPack."""
    from policy.rules import policies

    return policies()


def policy_config_path(environment: str) -> Path:
    return POLICY_DIR / f"{environment}.json"


def resolve_config(
    policies: list[Policy], config: dict[str, Any]
) -> dict[str, tuple[EnforcementLevel, dict[str, Any]]]:
    """name -> (level, properties), as the CLI applies a --policy-pack-config file.

    `all` sets every policy's level; a policy's own entry (a level string or an
    object with `enforcementLevel` and properties) overrides it.
    """
    unknown = set(config) - {"all"} - {p.name for p in policies}
    if unknown:
        raise ValueError(f"policy config names unknown policies: {sorted(unknown)}")

    def level_of(value: Any) -> Optional[EnforcementLevel]:
        if isinstance(value, str):
            return EnforcementLevel(value)
        if isinstance(value, dict) and "enforcementLevel" in value:
            return EnforcementLevel(value["enforcementLevel"])
        return None

    everything = level_of(config.get("all"))
    resolved = {}
    for p in policies:
        own = config.get(p.name)
        level = level_of(own) or everything or p.enforcement_level or EnforcementLevel.ADVISORY
        props = {k: v for k, v in own.items() if k != "enforcementLevel"} if isinstance(own, dict) else {}
        resolved[p.name] = (level, props)
    return resolved


def _secret_paths(resource: Resource) -> list[str]:
    """What the engine tells a policy pack about a resource's secrets: only the program's declared
    additional_secret_outputs. The pack's props are plain values, so an input passed as
    Output.secret without being declared looks plain to it (found by the engine tier, docs/engine.md)."""
    return sorted(set(resource.additional_secret_outputs))


def _options(resource: Resource, secret_paths: list[str]) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=secret_paths,
        parent=resource.parent or None,
    )


def _run(policy: Policy, args: Any, collect: Any) -> Optional[str]:
    """Call a policy like the analyzer does; a note when it could not run."""
    try:
        result = policy.validate(args, collect)
        if isawaitable(result):
            import asyncio

            asyncio.run(_await(result))
    except UnknownValueError as err:
        return f"can't run during preview: {err.message}"
    except _NotApplicableError:
        return None
    return None


async def _await(awaitable: Any) -> None:
    await awaitable


def stack_urn(result: RunResult) -> str:
    return f"urn:pulumi:{result.stack}::{result.project}::{STACK_TYPE}::{result.project}-{result.stack}"


def stack_resources(result: RunResult) -> list[PolicyResource]:
    """Every resource as the engine hands it to a stack policy: outputs, linked parents/dependencies."""
    stack = PolicyResource(
        STACK_TYPE,
        unknown_checking_proxy(integral(copy.deepcopy(result.outputs))),
        stack_urn(result),
        f"{result.project}-{result.stack}",
        PolicyResourceOptions(
            False, [], None, [], PolicyCustomTimeouts(0, 0, 0), list(result.secret_outputs), None
        ),
        None,
        None,
        [],
        {},
    )
    by_urn: dict[str, PolicyResource] = {stack.urn: stack}
    for r in result.resources:
        by_urn[r.urn] = PolicyResource(
            r.type,
            unknown_checking_proxy(integral(copy.deepcopy(r.outputs or {}))),
            r.urn,
            r.name,
            _options(r, _secret_paths(r)),
            None,
            None,
            [],
            {},
        )
    for r in result.resources:
        pr = by_urn[r.urn]
        pr.parent = by_urn.get(r.parent)
        pr.dependencies = [by_urn[d] for d in r.dependencies if d in by_urn]
        pr.property_dependencies = {
            k: [by_urn[d] for d in v if d in by_urn] for k, v in r.property_dependencies.items()
        }
    return list(by_urn.values())


def evaluate(result: RunResult, config: dict[str, Any]) -> tuple[list[Finding], dict[str, str]]:
    """Run every policy of the pack on the recorded resources with the given pack config."""
    policies = load_pack()
    resolved = resolve_config(policies, config)
    findings: list[Finding] = []
    for policy in policies:
        level, props = resolved[policy.name]
        if level == EnforcementLevel.DISABLED:
            continue
        shown = EnforcementLevel.MANDATORY if level == EnforcementLevel.REMEDIATE else level

        def collector(resource: str, urn: str, name: str = policy.name, lvl: str = shown.value):
            def report(message: str, violation_urn: Optional[str] = None) -> None:
                target = violation_urn or urn
                label = resource if not violation_urn else _short(result, violation_urn)
                findings.append(Finding(name, lvl, label, message, target))

            return report

        if isinstance(policy, ResourceValidationPolicy):
            for r in result.resources:
                args = ResourceValidationArgs(
                    r.type,
                    unknown_checking_proxy(integral(copy.deepcopy(r.inputs))),
                    r.urn,
                    r.name,
                    _options(r, _secret_paths(r)),
                    None,
                    props,
                    {},
                )
                note = _run(policy, args, collector(r.name, r.urn))
                if note:
                    advisory = EnforcementLevel.ADVISORY.value
                    findings.append(Finding(policy.name, advisory, r.name, note, r.urn))
        elif isinstance(policy, StackValidationPolicy):
            args = StackValidationArgs(stack_resources(result), props, {})
            note = _run(policy, args, collector("(stack)", stack_urn(result)))
            if note:
                findings.append(Finding(policy.name, EnforcementLevel.ADVISORY.value, "(stack)", note))
    return findings, {p.name: resolved[p.name][0].value for p in policies}


def _short(result: RunResult, urn: str) -> str:
    if urn == stack_urn(result):
        return "(stack)"
    return urn.rsplit("::", 1)[-1]


def schema_findings(result: RunResult) -> list[Finding]:
    """Strict Kubernetes schema validation of every manifest (always mandatory).

    Validates the manifests as the provider receives them (secret values included, in memory
    only): a redacted copy would not be the object the cluster sees.
    """
    found = []
    for r in result.resources:
        if not is_manifest(r):
            continue
        manifest = integral(copy.deepcopy(r.inputs))
        filename = manifest_filename(manifest)
        for error in schema_errors(manifest):
            message = f"{filename}: {error}"
            found.append(Finding(SCHEMA_RULE, EnforcementLevel.MANDATORY.value, r.name, message, r.urn))
    return found


def hadolint_findings(out: Path) -> list[Finding]:
    """hadolint over the Dockerfiles the preview rendered into <out>/images/ (every finding mandatory:
    the project's Dockerfiles are kept clean; an ignore needs a `# hadolint ignore=... - why`)."""
    problems, note = image_files.hadolint_problems(out)
    found = [Finding(HADOLINT_RULE, EnforcementLevel.MANDATORY.value, name, text) for name, text in problems]
    if note:
        found.append(Finding(HADOLINT_RULE, EnforcementLevel.ADVISORY.value, "(images)", note))
    return found


def contract_findings(result: RunResult) -> list[Finding]:
    """MindIE's own start-up contract (mindiectl/conformance.py), always mandatory: MindIE refuses
    to start on any of these, whatever the policy pack's levels say."""
    from . import conformance

    return [
        Finding(
            f"{CONTRACT_RULE}:{v.rule}",
            EnforcementLevel.MANDATORY.value,
            v.file,
            f"{v.path}: {v.message} (upstream: {v.citation})",
        )
        for v in conformance.check(conformance.manifests_of(result))
    ]


def check(
    result: RunResult,
    environment: Optional[str] = None,
    config_path: Optional[Path] = None,
    out: Optional[Path] = None,
) -> Report:
    """Policies + schema (+ hadolint on the Dockerfiles rendered under `out`) over a run; the
    environment defaults to the stack output `environment`."""
    env = environment or str(result.outputs.get("environment") or "")
    path = config_path or policy_config_path(env or "prod")
    if not path.exists():
        path = policy_config_path("prod")  # unknown environment: the strictest file
    config = json.loads(path.read_text())
    findings, levels = evaluate(result, config)
    findings += schema_findings(result)
    if out is not None:
        findings += hadolint_findings(out)
    findings += contract_findings(result)
    order = {"mandatory": 0, "advisory": 1}
    findings.sort(key=lambda f: (order.get(f.level, 2), f.rule, f.resource, f.message))
    try:
        shown = str(path.relative_to(PROJECT_DIR))
    except ValueError:
        shown = str(path)
    return Report(result.stack, env, shown, findings, levels)


def check_with_images(result: RunResult, config_path: Optional[Path]) -> Report:
    """check() with hadolint over the run's Dockerfiles, rendered beside (not into) the output
    folder so the report is written in the same swap as everything else."""
    with tempfile.TemporaryDirectory(prefix=".lint-") as lint_dir:
        image_files.write_images(result, Path(lint_dir))
        return check(result, config_path=config_path, out=Path(lint_dir))


def table(findings: list[Finding]) -> str:
    rows = [("RULE", "LEVEL", "RESOURCE", "MESSAGE")]
    rows += [(f.rule, f.level, f.resource, f.message) for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}" for row in rows
    )


def report_files(report: Report) -> dict[str, str]:
    """The report as a file of the output folder (written with it, in the same swap)."""
    return {"policy.json": json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"}


def contract_rules() -> list[str]:
    from . import conformance

    return list(conformance.RULES)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check")
    add_run_arguments(p)
    p.add_argument(
        "--policy-config", type=Path, help="policy pack config (default policy/<environment>.json)"
    )
    p.add_argument("--quiet", action="store_true", help="print only violations and the summary line")
    p.set_defaults(func=main)


@run_or_exit
def main(args: argparse.Namespace) -> int:
    def say(message: str) -> None:
        if not args.quiet:
            progress.step(f"check {args.stack}: {message}")

    def analyse(result: RunResult) -> tuple[Report, dict[str, str]]:
        say("policies, strict schema, hadolint")
        report = check_with_images(result, args.policy_config)
        return report, report_files(report)

    ran = run_and_write(args, analyse, say)
    report, written = ran.analysis, ran.out / "policy.json"
    shown = report.findings if not args.quiet else [f for f in report.findings if f.level == "mandatory"]
    if shown:
        print(table(shown))
    mandatory = len(report.mandatory)
    advisory = len(report.findings) - mandatory
    verdict = "passed" if report.passed else "FAILED"
    print(
        f"Policy check of stack {args.stack} ({report.environment or 'unknown environment'}, "
        f"{report.policy_config}): {verdict}: {mandatory} mandatory, {advisory} advisory, "
        f"{len(report.evaluated)} policies + strict schema + hadolint + MindIE contract "
        f"({len(contract_rules())} rules); report {written}"
    )
    return 0 if report.passed else 1
