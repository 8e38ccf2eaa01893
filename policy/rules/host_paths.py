"""Host paths: which hostPath volumes a pod may mount (the seed: never public or system directories)."""

from __future__ import annotations

import posixpath
from typing import Any

from pulumi_policy import Severity

from domain.host_paths import ASCEND_DRIVER_PATHS, FORBIDDEN_HOST_PATHS, forbidden_host_path

from .access import containers, get, pod_spec, seq
from .kinds import WORKLOAD_KINDS
from .registry import STRINGS, rule
from .views import ResourceContext


def host_paths(props: Any) -> list[tuple[str, str, Any]]:
    """(volume name, path, type) of every hostPath volume of a pod-bearing object."""
    return [
        (
            str(get(v, "name", default="?")),
            str(get(v, "hostPath", "path", default="")),
            get(v, "hostPath", "type"),
        )
        for v in seq(get(pod_spec(props), "volumes"))
        if get(v, "hostPath") is not None
    ]


def _under(path: str, prefix: str) -> bool:
    """`path` is `prefix` or below it (allowedHostPaths entries may end in '/')."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


@rule(
    "hostpath-forbidden",
    "host-paths",
    f"No hostPath is /, under {', '.join(FORBIDDEN_HOST_PATHS)}, or a container runtime socket or directory "
    "(except the Ascend driver files, mounted read-only where no Ascend Docker Runtime injects them).",
    "Mount a dedicated directory (e.g. /mnt/mindie-service/ms/...) or use a ConfigMap, Secret, emptyDir or "
    "PersistentVolumeClaim; the seed warns that mounting public or system directories allows container "
    "escape.",
    types=WORKLOAD_KINDS,
    severity=Severity.CRITICAL,
)
def hostpath_forbidden(props: Any, ctx: ResourceContext) -> list[str]:
    problems = []
    for name, path, kind in host_paths(props):
        why = forbidden_host_path(path)
        if why and not ((path, kind) in ASCEND_DRIVER_PATHS and _read_only_everywhere(props, name)):
            problems.append(f"volume {name}: hostPath {path!r} {why}")
    return problems


def _read_only_everywhere(props: Any, volume: str) -> bool:
    """Every container mounting `volume` mounts it read-only (the Ascend driver exception)."""
    mounts = [
        m
        for _where, c in containers(pod_spec(props))
        for m in seq(get(c, "volumeMounts"))
        if get(m, "name") == volume
    ]
    return bool(mounts) and all(get(m, "readOnly") is True for m in mounts)


@rule(
    "hostpath-type",
    "host-paths",
    "Every hostPath volume declares its type (Directory, File, ...), so a missing path fails instead of "
    "being created as root-owned.",
    "Set hostPath.type (Directory for the seed's directories, File for config.json / run.sh).",
    types=WORKLOAD_KINDS,
    severity=Severity.MEDIUM,
)
def hostpath_type(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"volume {name}: hostPath {path!r} has no type"
        for name, path, type_ in host_paths(props)
        if not type_
    ]


@rule(
    "hostpath-volumes",
    "host-paths",
    "Host paths (the seed's hostPath mode) are mounted only where explicitly allowed "
    "(config `allowedHostPaths`: path prefixes). hostPath volumes fail the Pod Security Standards "
    "restricted profile and tie pods to prepared nodes.",
    "Use the default mode (ConfigMap/Secret/emptyDir/PersistentVolumeClaim) or list the prepared host "
    "directory under allowedHostPaths in policy/<env>.json.",
    types=WORKLOAD_KINDS,
    severity=Severity.MEDIUM,
    config={"allowedHostPaths": STRINGS},
)
def hostpath_volumes(props: Any, ctx: ResourceContext) -> list[str]:
    allowed = ctx.strings("allowedHostPaths")
    return [
        f"volume {name}: hostPath {path!r} is not in allowedHostPaths {allowed}"
        for name, path, _type in host_paths(props)
        if not any(_under(posixpath.normpath(path), a) for a in allowed if a.startswith("/"))
    ]
