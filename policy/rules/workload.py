"""Workload security: every pod-bearing object's containers (user, capabilities, seccomp, images...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pulumi_policy import Severity

from domain.images import image_tag, is_pinned

from .access import (
    CONTAINER_KEYS,
    ContainerCheck,
    component,
    containers,
    fmt,
    get,
    number,
    per_container,
    pod_spec,
    seq,
)
from .kinds import WORKLOAD_KINDS
from .registry import STRINGS, rule
from .views import ResourceContext


def container_rule(
    name: str, description: str, remediation: str, keys: Sequence[str] = CONTAINER_KEYS, **kw: Any
) -> Callable:
    """Register a workload-security rule checked container by container (`fn(pod spec, container)`
    yields the container's problems); the rule reports each as "<container label>: <problem>"."""

    def register(fn: ContainerCheck) -> ContainerCheck:
        def check(props: Any, ctx: ResourceContext) -> list[str]:
            return per_container(props, fn, keys)

        rule(name, "workload-security", description, remediation, types=WORKLOAD_KINDS, **kw)(check)
        return fn

    return register


def _effective(spec: Any, container: Any, key: str) -> Any:
    """A securityContext field: the container's, else the pod's."""
    value = get(container, "securityContext", key)
    return value if value is not None else get(spec, "securityContext", key)


@container_rule(
    "workload-non-root",
    "Every container runs as a non-root user and group: runAsNonRoot true, runAsUser and "
    "runAsGroup set and not 0.",
    "Set securityContext.runAsNonRoot: true and runAsUser/runAsGroup to the image's non-root "
    "UID/GID (the seed's Dockerfile UID), on the pod or on each container.",
)
def workload_non_root(spec: Any, c: Any) -> Iterator[str]:
    if _effective(spec, c, "runAsNonRoot") is not True:
        yield "runAsNonRoot is not true"
    for key in ("runAsUser", "runAsGroup"):
        value = number(_effective(spec, c, key))
        if value is None:
            yield f"{key} is not set (the image's user would decide)"
        elif value == 0:
            yield f"{key} is 0 (root)"


@container_rule(
    "workload-no-privilege-escalation",
    "Every container sets allowPrivilegeEscalation: false.",
    "Set securityContext.allowPrivilegeEscalation: false on every container (init containers too).",
)
def workload_no_privilege_escalation(spec: Any, c: Any) -> Iterator[str]:
    value = get(c, "securityContext", "allowPrivilegeEscalation")
    if value is not False:
        yield f"allowPrivilegeEscalation is {fmt(value)}"


@container_rule(
    "workload-drop-all-capabilities",
    "Every container drops ALL Linux capabilities and adds none (NET_BIND_SERVICE excepted).",
    "Set securityContext.capabilities.drop: [ALL] and remove capabilities.add.",
)
def workload_drop_all_capabilities(spec: Any, c: Any) -> Iterator[str]:
    drop = [str(x) for x in seq(get(c, "securityContext", "capabilities", "drop"))]
    if "ALL" not in drop:
        yield f"capabilities.drop is {drop}, not [ALL]"
    added = [str(x) for x in seq(get(c, "securityContext", "capabilities", "add"))]
    extra = [a for a in added if a != "NET_BIND_SERVICE"]
    if extra:
        yield f"capabilities.add {extra}"


@container_rule(
    "workload-seccomp",
    "Every container runs under the RuntimeDefault seccomp profile (or a Localhost profile).",
    "Set securityContext.seccompProfile.type: RuntimeDefault on the pod (or each container).",
)
def workload_seccomp(spec: Any, c: Any) -> Iterator[str]:
    profile = get(_effective(spec, c, "seccompProfile"), "type")
    if profile not in ("RuntimeDefault", "Localhost"):
        yield f"seccompProfile.type is {fmt(profile)}"


@container_rule(
    "workload-not-privileged",
    "No container is privileged.",
    "Remove securityContext.privileged (the Ascend device plugin hands NPUs to unprivileged containers).",
    severity=Severity.CRITICAL,
)
def workload_not_privileged(spec: Any, c: Any) -> Iterator[str]:
    if get(c, "securityContext", "privileged") is True:
        yield "privileged is true"


@rule(
    "workload-no-host-namespaces",
    "workload-security",
    "Pods do not share the node's network, PID or IPC namespace.",
    "Remove hostNetwork / hostPID / hostIPC; reach the pod through a Service.",
    types=WORKLOAD_KINDS,
    severity=Severity.CRITICAL,
)
def workload_no_host_namespaces(props: Any, ctx: ResourceContext) -> list[str]:
    spec = pod_spec(props)
    return [f"{key} is true" for key in ("hostNetwork", "hostPID", "hostIPC") if get(spec, key) is True]


@container_rule(
    "workload-no-host-ports",
    "No container binds a port on the node (hostPort).",
    "Remove ports[].hostPort; expose the port through a Service (NodePort only for the entry).",
)
def workload_no_host_ports(spec: Any, c: Any) -> Iterator[str]:
    for p in seq(get(c, "ports")):
        if number(get(p, "hostPort")) not in (None, 0.0):
            yield f"hostPort {fmt(get(p, 'hostPort'))}"


@rule(
    "workload-read-only-root",
    "workload-security",
    "Containers run with readOnlyRootFilesystem: true unless their component is listed as needing "
    "a writable root (config `writableRootComponents`).",
    "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the program writes; "
    "or list the component under writableRootComponents in the policy config with the reason in docs.",
    types=WORKLOAD_KINDS,
    severity=Severity.MEDIUM,
    config={"writableRootComponents": STRINGS},
)
def workload_read_only_root(props: Any, ctx: ResourceContext) -> list[str]:
    comp = component(props)
    if comp in ctx.strings("writableRootComponents"):
        return []

    def writable(spec: Any, c: Any) -> Iterator[str]:
        if get(c, "securityContext", "readOnlyRootFilesystem") is not True:
            yield f"readOnlyRootFilesystem is not true (component {comp or '(none)'!r})"

    return per_container(props, writable)


def token_volumes(spec: Any) -> list[str]:
    """Names of the pod's volumes that project a service-account token (an API credential)."""
    return [
        str(get(v, "name", default="?"))
        for v in seq(get(spec, "volumes"))
        if any(get(src, "serviceAccountToken") is not None for src in seq(get(v, "projected", "sources")))
    ]


@rule(
    "workload-service-account-token",
    "workload-security",
    "Pods set automountServiceAccountToken: false unless their component talks to the Kubernetes API "
    "with its service account (config `apiClientComponents`). A projected service-account token volume "
    "is an API credential too: only components and containers listed in `tokenProjections` "
    "(component -> container names) may mount one, and only under a dedicated ServiceAccount.",
    "Set automountServiceAccountToken: false in the pod spec (the ms-server authenticates with its "
    "kubeclient certificate, not a token). A sidecar that reads the API gets a projected token volume "
    "mounted in that container only, a dedicated serviceAccountName, and an entry in `tokenProjections`.",
    types=WORKLOAD_KINDS,
    severity=Severity.MEDIUM,
    config={
        "apiClientComponents": STRINGS,
        "tokenProjections": {"type": "object", "additionalProperties": STRINGS},
    },
)
def workload_service_account_token(props: Any, ctx: ResourceContext) -> list[str]:
    allowed = ctx.strings("apiClientComponents")
    comp = component(props)
    if comp in allowed:
        return []
    spec = pod_spec(props)
    problems = []
    value = get(spec, "automountServiceAccountToken")
    if value is not False:
        problems.append(
            f"automountServiceAccountToken is {fmt(value)} (Kubernetes mounts the token unless false)"
        )
    tokens = token_volumes(spec)
    if not tokens:
        return problems
    readers = ctx.strings("tokenProjections", comp)
    if not readers:
        problems.append(
            f"volume(s) {tokens} project a service-account token but component "
            f"{comp or '(none)'!r} is not listed in tokenProjections"
        )
    account = str(get(spec, "serviceAccountName", default="") or get(spec, "serviceAccount", default=""))
    if account in ("", "default"):
        problems.append(
            f"volume(s) {tokens} project a token of the namespace's default ServiceAccount; "
            "use a dedicated serviceAccountName"
        )
    for where, c in containers(spec):
        mounted = [str(get(m, "name")) for m in seq(get(c, "volumeMounts")) if str(get(m, "name")) in tokens]
        if mounted and readers and str(get(c, "name", default="?")) not in readers:
            problems.append(f"{where}: mounts the token volume(s) {mounted}; only {readers} may")
    return problems


@container_rule(
    "workload-resources",
    "Every container declares cpu and memory requests and limits.",
    "Set resources.requests and resources.limits (cpu, memory) on every container, init containers too.",
    severity=Severity.MEDIUM,
    keys=("initContainers", "containers"),
)
def workload_resources(spec: Any, c: Any) -> Iterator[str]:
    # ephemeral containers take no resources
    for section in ("requests", "limits"):
        for res in ("cpu", "memory"):
            if get(c, "resources", section, res) is None:
                yield f"no resources.{section}.{res}"


@container_rule(
    "workload-image-pinned",
    "Every image is pinned by a tag other than latest, or by digest.",
    "Use image: <repo>:<version> or <repo>@sha256:<digest>; never :latest or no tag.",
    severity=Severity.MEDIUM,
)
def workload_image_pinned(spec: Any, c: Any) -> Iterator[str]:
    image = str(get(c, "image", default=""))
    if is_pinned(image):
        return
    tag = image_tag(image)
    if not image:
        yield "no image"
    elif not tag:
        yield f"image {image!r} has no tag (means latest)"
    elif tag == "latest":
        yield f"image {image!r} uses the latest tag"


@container_rule(
    "workload-image-digest",
    "Every image is pinned by digest (@sha256:<64 hex>): the bytes that were tested, not a tag "
    "that can be moved. Mandatory in prod; dev may run tags.",
    "Append @sha256:<digest> of the promoted image to every image reference "
    "(mindie:servers.image, mindie:motor.image, mindie:msServer.image.reference).",
    severity=Severity.HIGH,
)
def workload_image_digest(spec: Any, c: Any) -> Iterator[str]:
    image = str(get(c, "image", default=""))
    if not is_pinned(image):
        yield f"image {image!r} is not pinned by digest"
