"""The MindIE policy pack (run by the Pulumi CLI: `pulumi preview --policy-pack policy`).

This file only builds the pack. The rules live in `rules.py`, importable without
starting anything: constructing `PolicyPack` starts the analyzer's gRPC server
and never returns, so nothing else may import this file.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import PACK_NAME, policies

PolicyPack(
    name=PACK_NAME,
    policies=policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="MindIE on Kubernetes: workload security, host paths, NPU rollouts, probes, "
    "network, RBAC, TLS and secrets, stack-level consistency.",
)
