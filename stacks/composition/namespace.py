"""mindie:namespace and its Pod Security level from the settings."""

from __future__ import annotations

from components.namespace import NamespaceArgs
from domain.kubernetes import ENVIRONMENT_LABEL
from stacks.settings.stack import Settings


def namespace_args(settings: Settings, protect: bool) -> NamespaceArgs:
    """The stack's namespace, labelled with its environment."""
    return NamespaceArgs(
        name=settings.namespace,
        pod_security=pod_security_level(settings),
        extra_labels={ENVIRONMENT_LABEL: settings.environment.value},
        protect=protect,
    )


def pod_security_level(settings: Settings) -> str:
    """The Pod Security level the namespace enforces: the tightest its workloads allow.

    The seed's hostPath volumes (ms-server directories, the servers' model directory) are
    refused by the baseline and restricted profiles, so choosing one relaxes the namespace.
    """
    ms_host_path = settings.ms_server is not None and settings.ms_server.uses_host_path
    return "privileged" if ms_host_path or settings.servers.uses_host_path else "restricted"
