"""The MindIE policy rules: pure functions over resource properties, wrapped for CrossGuard.

Every rule is a `Rule` (registry.py): a name (the policy name in the pack and in the config
files), a family, a description, a default enforcement level, a severity, a remediation
hint and a check. Checks are pure functions:

- resource rules: `check(props, ctx) -> list[str]`, where `props` are the
  resource's INPUTS (for Kubernetes objects, the manifest) and `ctx` a
  `ResourceContext` (type token, name, the policy's config, the secret paths);
- stack rules: `check(stack) -> list[(message, urn | None)]`, where
  `stack` is a `StackView` over every resource's OUTPUTS (as `pulumi preview`
  hands them to a stack policy) plus the stack's own outputs.

Props may be plain dicts/lists or pulumi_policy's unknown-checking proxies
(`Mapping` / `Sequence`, not dict/list): the helpers in access.py only use the
abstract interfaces. Reading a value unknown during preview raises
pulumi_policy's UnknownValueError, which the engine reports as "can't run
during preview" (advisory) - exactly as for any other policy.

One module per rule family. The package imports nothing from the project but the
shared facts in `domain` (standard library only): the Pulumi CLI runs the pack from
the `policy/` directory with its own virtualenv (`from rules import ...`, with the
project root put on sys.path by `__main__.py`); the project imports it as `policy.rules`.
Inside the package, imports are relative so both names work.

Workloads are identified by the label `app.kubernetes.io/component` (server,
coordinator, controller, ms-server, ...), NPUs by `huawei.com/Ascend910` /
`huawei.com/Ascend310P`, the environment by the stack output `environment`.
"""

from __future__ import annotations

from pulumi_policy import Policy

from domain.host_paths import forbidden_host_path

from . import host_paths, network, npu_rollout, probes, rbac, stack, tls_secrets, workload
from .crossguard import to_policy
from .registry import FAMILIES, PACK_NAME, REGISTERED, Rule, by_name, rule
from .views import ResourceContext, StackResource, StackView

FAMILY_MODULES = (workload, host_paths, npu_rollout, probes, network, rbac, tls_secrets, stack)
"""Importing a family module registers its rules (@rule)."""

RULES: list[Rule] = sorted(REGISTERED, key=lambda r: FAMILIES.index(r.family))
"""Every rule in the pack's order: by family (FAMILIES), then as written in the family's module.
tests and docs/policy.md's table follow this order."""

__all__ = [
    "FAMILIES",
    "PACK_NAME",
    "RULES",
    "ResourceContext",
    "Rule",
    "StackResource",
    "StackView",
    "by_name",
    "forbidden_host_path",
    "policies",
    "rule",
    "to_policy",
]


def policies() -> list[Policy]:
    """Every rule of the pack, as pulumi_policy objects (what `__main__.py` hands to PolicyPack)."""
    return [to_policy(r) for r in RULES]
