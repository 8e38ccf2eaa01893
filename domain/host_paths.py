"""Host directories a MindIE pod must never mount (hostPath), for settings and the policy pack alike.

The seed: "避免挂载/home等公共目录" and "非系统危险路径". Public directories, system and credential
directories, and container-runtime state or sockets give a container a way out of its sandbox.
"""

import posixpath
from typing import Optional

FORBIDDEN_HOST_PATHS = (
    "/home",
    "/root",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/usr",
    "/run",
    "/var/run",
    "/tmp",
    "/var/tmp",
)
"""Public and system directories, and everything under them."""
RUNTIME_PATHS = (
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/etcd",
    "/etc/kubernetes",
    "/run/containerd",
    "/var/run/containerd",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/crio",
    "/run/crio",
)
"""Container-runtime, kubelet and etcd state and sockets, and everything under them."""
ASCEND_DRIVER_PATHS = (
    ("/usr/local/Ascend/driver", "Directory"),
    ("/usr/local/dcmi", "Directory"),
    ("/usr/local/bin/npu-smi", "File"),
    ("/etc/ascend_install.info", "File"),
)
"""The one exception: the Ascend driver files the Ascend Docker Runtime injects into an NPU container.
On a node without that runtime a server pod mounts exactly these, read-only (`servers.mountDriverFromHost`);
the policy pack admits them only read-only, with this type."""
SHARED_TOP_LEVEL = ("/var", "/var/lib", "/var/log", "/opt", "/mnt", "/srv", "/data")
"""Directories shared by everything on a node: a mount must be a dedicated directory below them."""


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def forbidden_host_path(path: str) -> Optional[str]:
    """Why `path` may never be a hostPath ("is under /etc", ...), or None when it may."""
    if not path.startswith("/"):
        return "is not absolute"
    # "/" + ...lstrip: POSIX normpath keeps a leading "//" (implementation-defined), which would
    # let "//etc" past every prefix below; the kubelet resolves it to /etc.
    normal = "/" + posixpath.normpath(path).lstrip("/")
    if normal != path.rstrip("/") and path != "/":
        return f"is not normalized ({normal!r})"
    if normal == "/":
        return "is the node's root directory"
    for prefix in FORBIDDEN_HOST_PATHS:
        if _under(normal, prefix):
            return f"is under {prefix}"
    for prefix in RUNTIME_PATHS:
        if _under(normal, prefix):
            return f"is a container runtime path ({prefix})"
    if normal.endswith(".sock"):
        return "is a socket"
    return None


def shared_top_level(path: str) -> bool:
    """True for a directory every workload on the node shares (mount a dedicated one below it)."""
    return path.rstrip("/") in SHARED_TOP_LEVEL
