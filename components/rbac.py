"""RBAC of the ms-server Deployer: the seed's `ms-role` rules bound to the kubeclient certificate's CN.

The ms-server authenticates to the API server with the kubeclient client
certificate (ms_server.json client_k8s_tls_items), not with a service-account
token, so the subject is a User named after that certificate's CN.

Scope (see docs/ms-server.md): every rule names a namespaced resource
(deployments, pods, configmaps, services), and the Deployer only manages the
MindIE Servers of this stack, which live in the stack's namespace. The seed's
ClusterRoleBinding grants those verbs in *every* namespace (creating Deployments
in kube-system is enough to take over a cluster), so the default binds the same
ClusterRole with a RoleBinding in the stack namespace only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from domain.kubernetes import MS_SERVER
from domain.rbac import MS_ROLE_BINDING_NAME, MS_ROLE_NAME, MS_ROLE_RULES, RBAC_API_GROUP

from .labels import standard_labels

# The seed's ms-role lives in domain.rbac (the policy pack checks the same facts).
ROLE_NAME = MS_ROLE_NAME
BINDING_NAME = MS_ROLE_BINDING_NAME
SEED_RULES = MS_ROLE_RULES
"""The seed's ms-role rules, exactly: (apiGroup, resource, verbs). Nothing more."""

SCOPES = ("namespace", "role", "cluster")


def policy_rules() -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [
        k8s.rbac.v1.PolicyRuleArgs(api_groups=[group], resources=[resource], verbs=list(verbs))
        for group, resource, verbs in SEED_RULES
    ]


@dataclass
class DeployerRbacArgs:
    namespace: pulumi.Input[str]
    """Namespace the Deployer manages (the stack namespace); home of the Role/RoleBinding."""
    kubeclient_cn: pulumi.Input[str]
    """CN of the kubeclient certificate: the User the API server sees (from the CA component)."""
    scope: str = "namespace"
    """namespace: ClusterRole + RoleBinding (default); role: Role + RoleBinding; cluster: the seed's
    ClusterRole + ClusterRoleBinding."""
    instance: str = "ms-server"
    """app.kubernetes.io/instance label value."""
    labels: dict[str, str] = field(default_factory=dict)
    """Extra labels for every object."""


class DeployerRbac(pulumi.ComponentResource):
    """`mindie:rbac:DeployerRbac`: `ms-role` and `ms-role-bind` for the ms-server's kubeclient user."""

    role_kind: str
    binding_kind: str
    subject: pulumi.Output[str]

    def __init__(self, name: str, args: DeployerRbacArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:rbac:DeployerRbac", name, None, opts)
        if args.scope not in SCOPES:
            raise ValueError(f"scope = {args.scope!r}: must be one of {SCOPES}")
        child = pulumi.ResourceOptions(parent=self)
        labels = {**standard_labels("ms-server", args.instance, MS_SERVER), **args.labels}
        cluster_role = args.scope in ("namespace", "cluster")

        if cluster_role:
            self.role = k8s.rbac.v1.ClusterRole(
                f"{name}-role",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE_NAME, labels=labels),
                rules=policy_rules(),
                opts=child,
            )
            self.role_kind = "ClusterRole"
        else:
            self.role = k8s.rbac.v1.Role(
                f"{name}-role",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ROLE_NAME, namespace=args.namespace, labels=labels),
                rules=policy_rules(),
                opts=child,
            )
            self.role_kind = "Role"

        subject = k8s.rbac.v1.SubjectArgs(kind="User", name=args.kubeclient_cn, api_group=RBAC_API_GROUP)
        role_ref = k8s.rbac.v1.RoleRefArgs(
            kind=self.role_kind, name=self.role.metadata.name, api_group=RBAC_API_GROUP
        )
        if args.scope == "cluster":
            self.binding = k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-bind",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=BINDING_NAME, labels=labels),
                subjects=[subject],
                role_ref=role_ref,
                opts=child,
            )
            self.binding_kind = "ClusterRoleBinding"
        else:
            self.binding = k8s.rbac.v1.RoleBinding(
                f"{name}-bind",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=BINDING_NAME, namespace=args.namespace, labels=labels
                ),
                subjects=[subject],
                role_ref=role_ref,
                opts=child,
            )
            self.binding_kind = "RoleBinding"
        self.subject = pulumi.Output.from_input(args.kubeclient_cn)
        self.register_outputs(
            {"roleKind": self.role_kind, "bindingKind": self.binding_kind, "subject": self.subject}
        )
