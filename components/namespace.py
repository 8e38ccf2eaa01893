"""The namespace every namespaced object of the stack lives in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from .labels import standard_labels


@dataclass
class NamespaceArgs:
    name: str = "mindie"
    """Namespace name (the seed: `kubectl create ns mindie`)."""
    pod_security: str = "restricted"
    """Pod Security Standards level enforced on the namespace (restricted, baseline, privileged)."""
    extra_labels: dict[str, str] = field(default_factory=dict)
    """More labels for the namespace (e.g. the environment)."""
    protect: bool = False
    """Lifecycle convention (docs/lifecycle.md): True in prod. The Namespace is then protected
    (`pulumi destroy` refuses) and retained on delete (removed from state, left in the cluster):
    deleting a namespace deletes everything in it, including Secrets holding CA material."""


class Namespace(pulumi.ComponentResource):
    """`mindie:namespace:Namespace`: a Namespace with Pod Security admission labels.

    The enforced level is the tightest the stack's workloads allow; the
    restricted profile is always warned and audited, so a relaxed namespace
    still reports every pod that would not pass it.
    """

    name: pulumi.Output[str]

    def __init__(self, name: str, args: NamespaceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:namespace:Namespace", name, None, opts)
        labels = {
            **standard_labels("mindie", args.name, "namespace"),
            "pod-security.kubernetes.io/enforce": args.pod_security,
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
            **args.extra_labels,
        }
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.name, labels=labels),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.name = self.namespace.metadata.name
        self.register_outputs({"name": self.name})
