"""The seed's `ms-role`: the Deployer's rights, exactly (ms-role.yaml and table 1 of the seed)."""

RBAC_API_GROUP = "rbac.authorization.k8s.io"

MS_ROLE_NAME = "ms-role"
MS_ROLE_BINDING_NAME = "ms-role-bind"

MS_ROLE_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("apps", "deployments", ("create", "delete", "get", "patch")),
    ("", "pods", ("get", "list", "patch")),
    ("", "configmaps", ("get", "create", "delete")),
    ("", "services", ("get", "delete", "create")),
)
"""(apiGroup, resource, verbs) in the seed's order. Nothing more."""


def ms_role_verbs() -> dict[tuple[str, str], frozenset[str]]:
    """(apiGroup, resource) -> the verbs ms-role grants on it."""
    return {(group, resource): frozenset(verbs) for group, resource, verbs in MS_ROLE_RULES}
