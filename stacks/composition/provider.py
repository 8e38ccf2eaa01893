"""The explicit Kubernetes provider every object of the stack uses."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from stacks.settings.stack import Settings

# ConfigMaps and Secrets are updated in place. The provider's default replaces them on any data
# change, and a named one is deleted first, which makes the engine replace every Deployment that
# mounts it: all its pods deleted at once, outside the rolling-update bounds. In place, the pod
# template's checksum annotation rolls exactly the pods whose configuration changed, within those
# bounds (docs/lifecycle.md). Found by the engine tier (a replica change replaced the controller).
MUTABLE_CONFIG = {"enable_config_map_mutable": True, "enable_secret_mutable": True}


def kubernetes_provider(settings: Settings, stack: str) -> k8s.Provider:
    """The explicit provider every Kubernetes object uses (never the ambient default)."""
    target = settings.kubernetes
    if target.render_yaml_to_directory:
        return k8s.Provider(
            f"{stack}-k8s", render_yaml_to_directory=target.render_yaml_to_directory, **MUTABLE_CONFIG
        )
    return k8s.Provider(
        f"{stack}-k8s",
        kubeconfig=target.kubeconfig,
        context=target.context,
        enable_server_side_apply=target.enable_server_side_apply,
        **MUTABLE_CONFIG,
    )
