"""Kubernetes building blocks shared by the workload components (server, Motor, ms-server).

Not a component: small functions returning provider input types, so the security
defaults every pod must carry (see the conventions: non-root, no privilege escalation,
capabilities dropped, RuntimeDefault seccomp) and the state-claim shape are written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s


def container_security_context(
    *, run_as_user: pulumi.Input[int], run_as_group: pulumi.Input[int], read_only_root_filesystem: bool
) -> k8s.core.v1.SecurityContextArgs:
    """A non-root container without privileges, capabilities or privilege escalation."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=run_as_user,
        run_as_group=run_as_group,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=read_only_root_filesystem,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def pod_security_context(
    *,
    run_as_user: pulumi.Input[int],
    run_as_group: pulumi.Input[int],
    fs_group: pulumi.Input[int],
    fs_group_change_policy: Optional[str] = None,
    supplemental_groups: Optional[list[int]] = None,
) -> k8s.core.v1.PodSecurityContextArgs:
    """A non-root pod with RuntimeDefault seccomp; volumes group-owned by `fs_group`."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=run_as_user,
        run_as_group=run_as_group,
        fs_group=fs_group,
        fs_group_change_policy=fs_group_change_policy,
        supplemental_groups=supplemental_groups,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def state_claim(
    resource_name: str,
    *,
    claim_name: pulumi.Input[str],
    namespace: pulumi.Input[str],
    labels: dict[str, Any],
    storage_class: Optional[str],
    size: str,
    parent: pulumi.Resource,
    protect: bool,
    aliases: Sequence[pulumi.Alias] = (),
) -> k8s.core.v1.PersistentVolumeClaim:
    """A ReadWriteOnce claim for state that must outlive pods and `pulumi up`: protected and
    retained on delete when `protect` (prod); `aliases`: where it was before a move (same claim)."""
    return k8s.core.v1.PersistentVolumeClaim(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=claim_name, namespace=namespace, labels=labels),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
        ),
        opts=pulumi.ResourceOptions(
            parent=parent, protect=protect, retain_on_delete=protect, aliases=list(aliases) or None
        ),
    )
