"""The MindIE policy pack (run by the Pulumi CLI: `pulumi preview --policy-pack policy`).

This file only builds the pack. The rules live in the `rules` package, importable without
starting anything: constructing `PolicyPack` starts the analyzer's gRPC server
and never returns, so nothing else may import this file.
"""

import os
import sys

# The CLI runs the pack with policy/ as its directory and only policy/ on sys.path. The rules read
# the project's shared facts (`domain`, standard library only), and the pack runs from this
# repository (`pulumi preview --policy-pack policy`): put the project root, policy/.., on the path.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402 - after the path is set
from rules import PACK_NAME, policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="MindIE on Kubernetes: workload security, host paths, NPU rollouts, probes, "
    "network, RBAC, TLS and secrets, stack-level consistency.",
)
