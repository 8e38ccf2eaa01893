"""The MindIE policy rules: pure functions over resource properties, wrapped for CrossGuard.

Every rule is a `Rule`: a name (the policy name in the pack and in the config
files), a description, a default enforcement level, a severity, a remediation
hint and a check. Checks are pure functions:

- resource rules: `check(props, ctx) -> list[str]`, where `props` are the
  resource's INPUTS (for Kubernetes objects, the manifest) and `ctx` a
  `ResourceContext` (type token, name, the policy's config, the secret paths);
- stack rules: `check(stack) -> list[(message, urn | None)]`, where
  `stack` is a `StackView` over every resource's OUTPUTS (as `pulumi preview`
  hands them to a stack policy) plus the stack's own outputs.

Props may be plain dicts/lists or pulumi_policy's unknown-checking proxies
(`Mapping` / `Sequence`, not dict/list): the helpers below only use the
abstract interfaces. Reading a value unknown during preview raises
pulumi_policy's UnknownValueError, which the engine reports as "can't run
during preview" (advisory) - exactly as for any other policy.

This module imports nothing from the project: the Pulumi CLI runs the pack
from the `policy/` directory with its own virtualenv (`from rules import ...`),
the project imports it as `policy.rules`.

Workloads are identified by the label `app.kubernetes.io/component` (server,
coordinator, controller, ms-server, ...), NPUs by `huawei.com/Ascend910` /
`huawei.com/Ascend310P`, the environment by the stack output `environment`.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

PACK_NAME = "mindie"

COMPONENT_LABEL = "app.kubernetes.io/component"
NPU_RESOURCES = ("huawei.com/Ascend910", "huawei.com/Ascend310P")
ENVIRONMENTS = ("dev", "staging", "prod")
MINDIE_WORKLOADS = ("server", "coordinator", "controller", "ms-server")
PROTECTED_COMPONENTS = ("server", "coordinator", "controller", "ms-server")
"""Components whose ingress a NetworkPolicy must restrict."""

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
ROLE_KINDS = ("ClusterRole", "Role")
BINDING_KINDS = ("ClusterRoleBinding", "RoleBinding")

STACK_TYPE = "pulumi:pulumi:Stack"
TLS_PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
TLS_CERT_REQUEST = "tls:index/certRequest:CertRequest"
TLS_LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"
TLS_SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"

# ---------------------------------------------------------------------------------------------
# The seed's numbers (mindie-single-node-deployment.md)
# ---------------------------------------------------------------------------------------------

PROBE_RANGES = {
    # infer_server.json table 2: liveness_timeout / readiness_timeout [1, 600] s,
    # liveness_failure_threshold / readiness_failure_threshold [1, 10].
    "livenessProbe": {"timeoutSeconds": (1, 600), "failureThreshold": (1, 10)},
    "readinessProbe": {"timeoutSeconds": (1, 600), "failureThreshold": (1, 10)},
}
PROBE_DEFAULTS = {"timeoutSeconds": 1, "failureThreshold": 3}
"""Kubernetes' defaults when a probe leaves the field out."""
STARTUP_WINDOW = (10, 1800)
"""init_delay [10, 1800] s: the startup probe's window (initialDelay + period x failureThreshold)."""

MS_ROLE_RULES: dict[tuple[str, str], frozenset[str]] = {
    # The seed's ms-role (部署Deployer服务端, ms-role.yaml and table 1).
    ("apps", "deployments"): frozenset({"create", "delete", "get", "patch"}),
    ("", "pods"): frozenset({"get", "list", "patch"}),
    ("", "configmaps"): frozenset({"get", "create", "delete"}),
    ("", "services"): frozenset({"get", "delete", "create"}),
}
MS_ROLE_NAME = "ms-role"
ESCALATION_VERBS = frozenset({"bind", "escalate", "impersonate"})

INTERMEDIATE_SUBJECT = {"commonName": "mindiems", "organization": "msgroup"}
MIN_RSA_BITS = 4096
STRONG_CURVES = ("P384", "P521")
"""ECDSA curves at least as strong as RSA 4096's ~140-bit level (P-384: 192-bit)."""
MAX_VALIDITY_HOURS = 365 * 24

NODE_PORT_RANGE = (30000, 32767)

FORBIDDEN_HOST_PATHS = ("/home", "/root", "/etc", "/proc", "/sys", "/var/run", "/run", "/dev", "/boot")
"""hostPath prefixes never mounted: system and public directories (the seed: "避免挂载/home等公共目录")."""
RUNTIME_SOCKET_PATHS = (
    "/var/lib/docker", "/var/lib/containerd", "/run/containerd", "/var/run/containerd",
    "/var/run/docker.sock", "/run/docker.sock", "/var/run/crio", "/run/crio", "/var/lib/kubelet",
)

TLS_SWITCHES = frozenset({
    # MindIE Server config.json (client and management HTTPS), http_client_ctl.json (probes)
    "httpsEnabled", "tls_enable", "enable_tls", "enableTls",
    # ms_server.json
    "client_k8s_tls_enable", "client_mindie_server_tls_enable", "server_tls_enable",
    # Motor: ms_coordinator.json / ms_controller.json channels that exist in single_node
    "controller_server_tls_enable", "request_server_tls_enable", "mindie_client_tls_enable",
    "mindie_mangment_tls_enable", "external_tls_enable", "status_tls_enable", "alarm_client_tls_enable",
    "request_coordinator_tls_enable", "http_server_tls_enable", "alarm_tls_enable",
    "external_coordinator_tls_enable",
})
"""Boolean keys of the generated JSON configs that switch TLS on a channel a single-node service uses.
Not listed on purpose: interCommTLSEnabled / interNodeTLSEnabled (no PD or multi-node channel in
single-node standard mode), etcd_*, cluster_*, ccae_* (components single_node does not run)."""

PEM_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
PASSPHRASE_KEY = re.compile(r"(passw(or)?d|passphrase|pwd|secret_?key)", re.IGNORECASE)
PATH_LIKE = re.compile(r"\.{0,2}/?[\w.\-]+(/[\w.\-]+)*/?")
"""A value that names a file (e.g. `security/pass/key_pwd.txt`) is a reference, not a passphrase."""

# Provider-schema secrets: inputs the SDKs always mark secret (additional_secret_outputs),
# so the engine encrypts them even when a policy sees them as plain values.
SCHEMA_SECRETS: dict[str, frozenset[str]] = {
    "kubernetes:core/v1:Secret": frozenset({"data", "stringData"}),
    TLS_PRIVATE_KEY: frozenset({"privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"}),
    TLS_CERT_REQUEST: frozenset({"privateKeyPem", "privateKeyPemWo"}),
    TLS_SELF_SIGNED: frozenset({"privateKeyPem", "privateKeyPemWo"}),
    TLS_LOCALLY_SIGNED: frozenset({"caPrivateKeyPem", "caPrivateKeyPemWo"}),
}


# ---------------------------------------------------------------------------------------------
# Access helpers (Mapping / Sequence only: they work on pulumi_policy's proxies)
# ---------------------------------------------------------------------------------------------


def is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def get(node: Any, *path: Any, default: Any = None) -> Any:
    """node[path[0]][path[1]]... or `default` when any step is missing or None."""
    for key in path:
        if isinstance(key, int):
            if not is_seq(node) or not -len(node) <= key < len(node):
                return default
        elif not is_map(node) or key not in node:
            return default
        node = node[key]
        if node is None:
            return default
    return node


def seq(value: Any) -> list[Any]:
    """A list of a Sequence's items ([] for anything else)."""
    return [value[i] for i in range(len(value))] if is_seq(value) else []


def plain(value: Any) -> Any:
    """A plain dict/list copy of a (proxied) value, for messages and JSON."""
    if is_map(value):
        return {k: plain(value[k]) for k in value}
    if is_seq(value):
        return [plain(v) for v in seq(value)]
    return value


def number(value: Any) -> Optional[float]:
    """Numbers arrive as floats from the engine; numeric strings (quantities) too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(plain(value)) if is_map(value) or is_seq(value) else repr(value)


def kind_of(resource_type: str) -> str:
    """`kubernetes:apps/v1:Deployment` -> `Deployment`; '' for other providers."""
    if not resource_type.startswith("kubernetes:"):
        return ""
    return resource_type.rsplit(":", 1)[-1]


def labels(props: Any) -> Mapping[str, Any]:
    return get(props, "metadata", "labels", default={})


def component(props: Any) -> str:
    """The workload's `app.kubernetes.io/component` (object labels, else pod-template labels)."""
    value = get(labels(props), COMPONENT_LABEL)
    if value is None:
        value = get(pod_template(props), "metadata", "labels", COMPONENT_LABEL)
    return str(value or "")


def object_name(props: Any) -> str:
    return str(get(props, "metadata", "name", default=""))


def namespace_of(props: Any) -> str:
    return str(get(props, "metadata", "namespace", default=""))


def pod_template(props: Any) -> Any:
    kind = get(props, "kind")
    if kind == "Pod":
        return props
    if kind == "CronJob":
        return get(props, "spec", "jobTemplate", "spec", "template", default={})
    return get(props, "spec", "template", default={})


def pod_spec(props: Any) -> Any:
    return get(pod_template(props), "spec", default={})


def containers(spec: Any) -> list[tuple[str, Any]]:
    """(label, container) for init, regular and ephemeral containers."""
    found = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in seq(get(spec, key)):
            found.append((f"{key}[{get(c, 'name', default='?')}]", c))
    return found


def npu_counts(container: Any) -> dict[str, tuple[Any, Any]]:
    """NPU resource -> (request, limit) for the NPU resources a container mentions."""
    requests = get(container, "resources", "requests", default={})
    limits = get(container, "resources", "limits", default={})
    found = {}
    for npu in NPU_RESOURCES:
        if npu in requests or npu in limits:
            found[npu] = (get(requests, npu), get(limits, npu))
    return found


def json_documents(configmap: Any) -> dict[str, Any]:
    """key -> parsed JSON for every `*.json` entry of a ConfigMap's data (unparseable ones skipped)."""
    docs = {}
    data = get(configmap, "data", default={})
    for key in data:
        if str(key).endswith(".json") and isinstance(data[key], str):
            try:
                docs[str(key)] = json.loads(data[key])
            except json.JSONDecodeError:
                continue
    return docs


def walk(value: Any, path: str = "", last: str = "") -> Iterable[tuple[str, str, Any]]:
    """(path, last mapping key, leaf) for every leaf under value."""
    if is_map(value):
        for k in value:
            yield from walk(value[k], f"{path}.{k}" if path else str(k), str(k))
    elif is_seq(value):
        for i, v in enumerate(seq(value)):
            yield from walk(v, f"{path}[{i}]", last)
    else:
        yield path, last, value


def find_keys(value: Any, wanted: Callable[[str], bool]) -> list[tuple[str, Any]]:
    """(path, value) for every mapping entry whose key satisfies `wanted` (any depth)."""
    found: list[tuple[str, Any]] = []

    def visit(node: Any, path: str) -> None:
        if is_map(node):
            for k in node:
                sub = f"{path}.{k}" if path else str(k)
                if wanted(str(k)):
                    found.append((sub, node[k]))
                visit(node[k], sub)
        elif is_seq(node):
            for i, v in enumerate(seq(node)):
                visit(v, f"{path}[{i}]")

    visit(value, "")
    return found


def percent_or_int(value: Any, replicas: int, round_up: bool) -> Optional[int]:
    """A rolling-update bound resolved like the Deployment controller (and the seed)."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            pct = float(value[:-1])
        except ValueError:
            return None
        scaled = replicas * pct / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    n = number(value)
    return None if n is None else int(n)


# ---------------------------------------------------------------------------------------------
# Rule model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceContext:
    """What a resource check may know besides the props."""

    type: str
    name: str = ""
    urn: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    secret_paths: frozenset[str] = frozenset()
    """Top-level property names Pulumi keeps secret (additionalSecretOutputs + schema secrets)."""


@dataclass
class StackResource:
    """One resource as a stack rule sees it (a thin view over pulumi_policy.PolicyResource)."""

    type: str
    name: str
    urn: str
    props: Any
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    secret_paths: frozenset[str] = frozenset()

    @property
    def kind(self) -> str:
        return kind_of(self.type)


@dataclass
class StackView:
    resources: list[StackResource]
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stack(self) -> Optional[StackResource]:
        return next((r for r in self.resources if r.type == STACK_TYPE), None)

    @property
    def outputs(self) -> Any:
        return self.stack.props if self.stack else {}

    @property
    def stack_name(self) -> str:
        urn = self.stack.urn if self.stack else (self.resources[0].urn if self.resources else "")
        parts = urn.split(":")
        return parts[2] if len(parts) > 2 else ""

    @property
    def environment(self) -> str:
        return str(get(self.outputs, "environment", default=""))

    @property
    def entry(self) -> str:
        return str(get(self.outputs, "entry", default=""))

    def of_kind(self, *kinds: str) -> list[StackResource]:
        return [r for r in self.resources if r.kind in kinds]

    def of_type(self, type_token: str) -> list[StackResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self, urn: str) -> Optional[StackResource]:
        return next((r for r in self.resources if r.urn == urn), None)

    def workloads(self, *components: str) -> list[StackResource]:
        return [
            r for r in self.of_kind(*WORKLOAD_KINDS) if not components or component(r.props) in components
        ]


ResourceCheck = Callable[[Any, ResourceContext], list[str]]
StackCheck = Callable[[StackView], list[tuple[str, Optional[str]]]]


@dataclass(frozen=True)
class Rule:
    name: str
    family: str
    description: str
    remediation: str
    check: Callable[..., Any]
    scope: str = "resource"  # "resource" | "stack"
    types: tuple[str, ...] = ()
    """Resource rules: Kubernetes kinds or full type tokens the rule looks at (empty: every resource)."""
    level: EnforcementLevel = EnforcementLevel.MANDATORY
    severity: Severity = Severity.HIGH
    config: Optional[dict[str, dict[str, Any]]] = None
    """JSON-schema properties of the rule's own config (in the policy config file)."""

    def applies_to(self, resource_type: str) -> bool:
        return not self.types or resource_type in self.types or kind_of(resource_type) in self.types

    def check_resource(self, props: Any, ctx: ResourceContext) -> list[str]:
        if not self.applies_to(ctx.type):
            return []
        return list(self.check(props, ctx))

    def check_stack(self, stack: StackView) -> list[tuple[str, Optional[str]]]:
        return list(self.check(stack))


RULES: list[Rule] = []


def rule(name: str, family: str, description: str, remediation: str, **kw: Any) -> Callable:
    def register(fn: Callable) -> Callable:
        RULES.append(Rule(name, family, description, remediation, fn, **kw))
        return fn

    return register


def by_name(name: str) -> Rule:
    for r in RULES:
        if r.name == name:
            return r
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# Workload security (every pod-bearing object)
# ---------------------------------------------------------------------------------------------


def _effective(spec: Any, container: Any, key: str) -> Any:
    """A securityContext field: the container's, else the pod's."""
    value = get(container, "securityContext", key)
    return value if value is not None else get(spec, "securityContext", key)


@rule("workload-non-root", "workload-security",
      "Every container runs as a non-root user and group: runAsNonRoot true, runAsUser and runAsGroup "
      "set and not 0.",
      "Set securityContext.runAsNonRoot: true and runAsUser/runAsGroup to the image's non-root UID/GID "
      "(the seed's Dockerfile UID), on the pod or on each container.",
      types=WORKLOAD_KINDS)
def workload_non_root(props: Any, ctx: ResourceContext) -> list[str]:
    spec = pod_spec(props)
    problems = []
    for where, c in containers(spec):
        if _effective(spec, c, "runAsNonRoot") is not True:
            problems.append(f"{where}: runAsNonRoot is not true")
        for key in ("runAsUser", "runAsGroup"):
            value = _effective(spec, c, key)
            if number(value) is None:
                problems.append(f"{where}: {key} is not set (the image's user would decide)")
            elif number(value) == 0:
                problems.append(f"{where}: {key} is 0 (root)")
    return problems


@rule("workload-no-privilege-escalation", "workload-security",
      "Every container sets allowPrivilegeEscalation: false.",
      "Set securityContext.allowPrivilegeEscalation: false on every container (init containers too).",
      types=WORKLOAD_KINDS)
def workload_no_privilege_escalation(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"{where}: allowPrivilegeEscalation is {fmt(get(c, 'securityContext', 'allowPrivilegeEscalation'))}"
        for where, c in containers(pod_spec(props))
        if get(c, "securityContext", "allowPrivilegeEscalation") is not False
    ]


@rule("workload-drop-all-capabilities", "workload-security",
      "Every container drops ALL Linux capabilities and adds none (NET_BIND_SERVICE excepted).",
      "Set securityContext.capabilities.drop: [ALL] and remove capabilities.add.",
      types=WORKLOAD_KINDS)
def workload_drop_all_capabilities(props: Any, ctx: ResourceContext) -> list[str]:
    problems = []
    for where, c in containers(pod_spec(props)):
        drop = [str(x) for x in seq(get(c, "securityContext", "capabilities", "drop"))]
        if "ALL" not in drop:
            problems.append(f"{where}: capabilities.drop is {drop}, not [ALL]")
        added = [str(x) for x in seq(get(c, "securityContext", "capabilities", "add"))]
        extra = [a for a in added if a != "NET_BIND_SERVICE"]
        if extra:
            problems.append(f"{where}: capabilities.add {extra}")
    return problems


@rule("workload-seccomp", "workload-security",
      "Every container runs under the RuntimeDefault seccomp profile (or a Localhost profile).",
      "Set securityContext.seccompProfile.type: RuntimeDefault on the pod (or each container).",
      types=WORKLOAD_KINDS)
def workload_seccomp(props: Any, ctx: ResourceContext) -> list[str]:
    spec = pod_spec(props)
    problems = []
    for where, c in containers(spec):
        profile = get(_effective(spec, c, "seccompProfile"), "type")
        if profile not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile.type is {fmt(profile)}")
    return problems


@rule("workload-not-privileged", "workload-security",
      "No container is privileged.",
      "Remove securityContext.privileged (the Ascend device plugin hands NPUs to unprivileged containers).",
      types=WORKLOAD_KINDS, severity=Severity.CRITICAL)
def workload_not_privileged(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"{where}: privileged is true"
        for where, c in containers(pod_spec(props))
        if get(c, "securityContext", "privileged") is True
    ]


@rule("workload-no-host-namespaces", "workload-security",
      "Pods do not share the node's network, PID or IPC namespace.",
      "Remove hostNetwork / hostPID / hostIPC; reach the pod through a Service.",
      types=WORKLOAD_KINDS, severity=Severity.CRITICAL)
def workload_no_host_namespaces(props: Any, ctx: ResourceContext) -> list[str]:
    spec = pod_spec(props)
    return [f"{key} is true" for key in ("hostNetwork", "hostPID", "hostIPC") if get(spec, key) is True]


@rule("workload-no-host-ports", "workload-security",
      "No container binds a port on the node (hostPort).",
      "Remove ports[].hostPort; expose the port through a Service (NodePort only for the entry).",
      types=WORKLOAD_KINDS)
def workload_no_host_ports(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"{where}: hostPort {fmt(get(p, 'hostPort'))}"
        for where, c in containers(pod_spec(props))
        for p in seq(get(c, "ports"))
        if number(get(p, "hostPort")) not in (None, 0.0)
    ]


@rule("workload-read-only-root", "workload-security",
      "Containers run with readOnlyRootFilesystem: true unless their component is listed as needing "
      "a writable root (config `writableRootComponents`).",
      "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the program writes; "
      "or list the component under writableRootComponents in the policy config with the reason in docs.",
      types=WORKLOAD_KINDS, severity=Severity.MEDIUM,
      config={"writableRootComponents": {"type": "array", "items": {"type": "string"}}})
def workload_read_only_root(props: Any, ctx: ResourceContext) -> list[str]:
    allowed = [str(x) for x in seq(get(ctx.config, "writableRootComponents"))]
    if component(props) in allowed:
        return []
    return [
        f"{where}: readOnlyRootFilesystem is not true (component {component(props) or '(none)'!r})"
        for where, c in containers(pod_spec(props))
        if get(c, "securityContext", "readOnlyRootFilesystem") is not True
    ]


def token_volumes(spec: Any) -> list[str]:
    """Names of the pod's volumes that project a service-account token (an API credential)."""
    return [
        str(get(v, "name", default="?"))
        for v in seq(get(spec, "volumes"))
        if any(get(src, "serviceAccountToken") is not None for src in seq(get(v, "projected", "sources")))
    ]


@rule("workload-service-account-token", "workload-security",
      "Pods set automountServiceAccountToken: false unless their component talks to the Kubernetes API "
      "with its service account (config `apiClientComponents`). A projected service-account token volume "
      "is an API credential too: only components and containers listed in `tokenProjections` "
      "(component -> container names) may mount one, and only under a dedicated ServiceAccount.",
      "Set automountServiceAccountToken: false in the pod spec (the ms-server authenticates with its "
      "kubeclient certificate, not a token). A sidecar that reads the API gets a projected token volume "
      "mounted in that container only, a dedicated serviceAccountName, and an entry in `tokenProjections`.",
      types=WORKLOAD_KINDS, severity=Severity.MEDIUM,
      config={"apiClientComponents": {"type": "array", "items": {"type": "string"}},
              "tokenProjections": {"type": "object",
                                   "additionalProperties": {"type": "array", "items": {"type": "string"}}}})
def workload_service_account_token(props: Any, ctx: ResourceContext) -> list[str]:
    allowed = [str(x) for x in seq(get(ctx.config, "apiClientComponents"))]
    comp = component(props)
    if comp in allowed:
        return []
    spec = pod_spec(props)
    problems = []
    value = get(spec, "automountServiceAccountToken")
    if value is not False:
        problems.append(
            f"automountServiceAccountToken is {fmt(value)} (Kubernetes mounts the token unless false)")
    tokens = token_volumes(spec)
    if not tokens:
        return problems
    readers = [str(x) for x in seq(get(ctx.config, "tokenProjections", comp))]
    if not readers:
        problems.append(f"volume(s) {tokens} project a service-account token but component "
                        f"{comp or '(none)'!r} is not listed in tokenProjections")
    account = str(get(spec, "serviceAccountName", default="") or get(spec, "serviceAccount", default=""))
    if account in ("", "default"):
        problems.append(f"volume(s) {tokens} project a token of the namespace's default ServiceAccount; "
                        "use a dedicated serviceAccountName")
    for where, c in containers(spec):
        mounted = [str(get(m, "name")) for m in seq(get(c, "volumeMounts")) if str(get(m, "name")) in tokens]
        if mounted and readers and str(get(c, "name", default="?")) not in readers:
            problems.append(f"{where}: mounts the token volume(s) {mounted}; only {readers} may")
    return problems


@rule("workload-resources", "workload-security",
      "Every container declares cpu and memory requests and limits.",
      "Set resources.requests and resources.limits (cpu, memory) on every container, init containers too.",
      types=WORKLOAD_KINDS, severity=Severity.MEDIUM)
def workload_resources(props: Any, ctx: ResourceContext) -> list[str]:
    problems = []
    for where, c in containers(pod_spec(props)):
        if where.startswith("ephemeralContainers"):
            continue
        for section in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if get(c, "resources", section, res) is None:
                    problems.append(f"{where}: no resources.{section}.{res}")
    return problems


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\Z")


@rule("workload-image-pinned", "workload-security",
      "Every image is pinned by a tag other than latest, or by digest.",
      "Use image: <repo>:<version> or <repo>@sha256:<digest>; never :latest or no tag.",
      types=WORKLOAD_KINDS, severity=Severity.MEDIUM)
def workload_image_pinned(props: Any, ctx: ResourceContext) -> list[str]:
    problems = []
    for where, c in containers(pod_spec(props)):
        image = str(get(c, "image", default=""))
        if _DIGEST.search(image):
            continue
        last = image.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else ""
        if not image:
            problems.append(f"{where}: no image")
        elif not tag:
            problems.append(f"{where}: image {image!r} has no tag (means latest)")
        elif tag == "latest":
            problems.append(f"{where}: image {image!r} uses the latest tag")
    return problems


@rule("workload-image-digest", "workload-security",
      "Every image is pinned by digest (@sha256:<64 hex>): the bytes that were tested, not a tag that can "
      "be moved. Mandatory in prod; dev may run tags.",
      "Append @sha256:<digest> of the promoted image to every image reference (mindie:servers.image, "
      "mindie:motor.image, mindie:msServer.image.reference).",
      types=WORKLOAD_KINDS, severity=Severity.HIGH)
def workload_image_digest(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"{where}: image {str(get(c, 'image', default=''))!r} is not pinned by digest"
        for where, c in containers(pod_spec(props))
        if not _DIGEST.search(str(get(c, "image", default="")))
    ]


# ---------------------------------------------------------------------------------------------
# Host paths
# ---------------------------------------------------------------------------------------------


def host_paths(props: Any) -> list[tuple[str, str, Any]]:
    """(volume name, path, type) of every hostPath volume of a pod-bearing object."""
    return [
        (str(get(v, "name", default="?")), str(get(v, "hostPath", "path", default="")),
         get(v, "hostPath", "type"))
        for v in seq(get(pod_spec(props), "volumes"))
        if get(v, "hostPath") is not None
    ]


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def forbidden_host_path(path: str) -> Optional[str]:
    """Why a hostPath may never be mounted, or None."""
    if not path.startswith("/"):
        return "is not absolute"
    normal = posixpath.normpath(path)
    if normal != path.rstrip("/") and path != "/":
        return f"is not normalized ({normal!r})"
    if normal == "/":
        return "is the node's root directory"
    for prefix in FORBIDDEN_HOST_PATHS:
        if _under(normal, prefix):
            return f"is under {prefix}"
    for prefix in RUNTIME_SOCKET_PATHS:
        if _under(normal, prefix):
            return f"is a container runtime path ({prefix})"
    if normal.endswith(".sock"):
        return "is a socket"
    return None


@rule("hostpath-forbidden", "host-paths",
      "No hostPath is /, under /home, /root, /etc, /proc, /sys, /var/run, /run, /dev, /boot, "
      "or a container runtime socket or directory.",
      "Mount a dedicated directory (e.g. /mnt/mindie-service/ms/...) or use a ConfigMap, Secret, emptyDir or "
      "PersistentVolumeClaim; the seed warns that mounting public or system directories allows container "
      "escape.",
      types=WORKLOAD_KINDS, severity=Severity.CRITICAL)
def hostpath_forbidden(props: Any, ctx: ResourceContext) -> list[str]:
    problems = []
    for name, path, _type in host_paths(props):
        why = forbidden_host_path(path)
        if why:
            problems.append(f"volume {name}: hostPath {path!r} {why}")
    return problems


@rule("hostpath-type", "host-paths",
      "Every hostPath volume declares its type (Directory, File, ...), so a missing path fails instead of "
      "being created as root-owned.",
      "Set hostPath.type (Directory for the seed's directories, File for config.json / run.sh).",
      types=WORKLOAD_KINDS, severity=Severity.MEDIUM)
def hostpath_type(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"volume {name}: hostPath {path!r} has no type"
        for name, path, type_ in host_paths(props)
        if not type_
    ]


@rule("hostpath-volumes", "host-paths",
      "Host paths (the seed's hostPath mode) are mounted only where explicitly allowed "
      "(config `allowedHostPaths`: path prefixes). hostPath volumes fail the Pod Security Standards "
      "restricted profile and tie pods to prepared nodes.",
      "Use the default mode (ConfigMap/Secret/emptyDir/PersistentVolumeClaim) or list the prepared host "
      "directory under allowedHostPaths in policy/<env>.json.",
      types=WORKLOAD_KINDS, severity=Severity.MEDIUM,
      config={"allowedHostPaths": {"type": "array", "items": {"type": "string"}}})
def hostpath_volumes(props: Any, ctx: ResourceContext) -> list[str]:
    allowed = [str(x) for x in seq(get(ctx.config, "allowedHostPaths"))]
    return [
        f"volume {name}: hostPath {path!r} is not in allowedHostPaths {allowed}"
        for name, path, _type in host_paths(props)
        if not any(_under(posixpath.normpath(path), a) for a in allowed if a.startswith("/"))
    ]


# ---------------------------------------------------------------------------------------------
# NPU and rollout
# ---------------------------------------------------------------------------------------------


@rule("npu-request-equals-limit", "npu-rollout",
      "NPU requests equal NPU limits (extended resources cannot be overcommitted) and are positive integers.",
      "Set the same count for huawei.com/Ascend910 (or Ascend310P) under resources.requests and limits.",
      types=WORKLOAD_KINDS)
def npu_request_equals_limit(props: Any, ctx: ResourceContext) -> list[str]:
    problems = []
    for where, c in containers(pod_spec(props)):
        for npu, (req, lim) in npu_counts(c).items():
            r, lm = number(req), number(lim)
            if r is None or lm is None:
                problems.append(f"{where}: {npu} request {fmt(req)} / limit {fmt(lim)}: both must be set")
            elif r != lm:
                problems.append(f"{where}: {npu} request {fmt(req)} != limit {fmt(lim)}")
            elif r < 1 or not r.is_integer():
                problems.append(f"{where}: {npu} count {fmt(req)} is not a positive integer")
    return problems


def rollout_bounds(props: Any) -> Optional[tuple[int, int, int]]:
    """(replicas, surge pods, unavailable pods) of a RollingUpdate Deployment, else None."""
    if get(props, "kind") != "Deployment":
        return None
    strategy = get(props, "spec", "strategy", default={})
    if get(strategy, "type", default="RollingUpdate") != "RollingUpdate":
        return None
    replicas = int(number(get(props, "spec", "replicas", default=1)) or 0)
    surge = percent_or_int(get(strategy, "rollingUpdate", "maxSurge", default="25%"), replicas, True)
    unavailable = percent_or_int(
        get(strategy, "rollingUpdate", "maxUnavailable", default="25%"), replicas, False
    )
    if surge is None or unavailable is None:
        return None
    return replicas, surge, unavailable


@rule("rollout-can-move", "npu-rollout",
      "A rolling update's maxSurge and maxUnavailable never both resolve to 0 pods "
      "(surge = ceil(replicas x max_surge), unavailable = floor(replicas x max_unavailable)).",
      "Raise max_unavailable (e.g. 25%, or 100% for one replica) or max_surge.",
      types=("Deployment",))
def rollout_can_move(props: Any, ctx: ResourceContext) -> list[str]:
    bounds = rollout_bounds(props)
    if bounds is None:
        return []
    replicas, surge, unavailable = bounds
    if surge == 0 and unavailable == 0:
        strategy = plain(get(props, "spec", "strategy", "rollingUpdate", default={}))
        return [f"replicas {replicas}, rollingUpdate {strategy}: surge and unavailable both resolve "
                "to 0 pods"]
    return []


def server_configs(stack: StackView, workload: StackResource) -> list[tuple[StackResource, str, Any]]:
    """(ConfigMap, key, parsed JSON) of the server config.json ConfigMaps a workload mounts."""
    names = {
        str(get(v, "configMap", "name"))
        for v in seq(get(pod_spec(workload.props), "volumes"))
        if get(v, "configMap", "name") is not None
    }
    for v in seq(get(pod_spec(workload.props), "volumes")):
        for src in seq(get(v, "projected", "sources")):
            if get(src, "configMap", "name") is not None:
                names.add(str(get(src, "configMap", "name")))
    found = []
    for cm in stack.of_kind("ConfigMap"):
        if object_name(cm.props) in names and namespace_of(cm.props) == namespace_of(workload.props):
            for key, doc in json_documents(cm.props).items():
                if find_keys(doc, lambda k: k == "worldSize"):
                    found.append((cm, key, doc))
    return found


def declared_groups(stack: StackView) -> list[Any]:
    """The server groups the stack declares in its outputs (the server component's `endpoints` shape)."""
    groups = []
    for key in stack.outputs:
        for item in seq(stack.outputs[key]):
            if is_map(item) and "deployment" in item and "npu_chip_num" in item:
                groups.append(item)
    return groups


@rule("npu-matches-config", "npu-rollout",
      "Each server Deployment's NPU count equals its group's npu_chip_num and the worldSize "
      "(and npuDeviceIds) of the config.json it mounts.",
      "Derive the NPU request, worldSize and npuDeviceIds from the same npu_chip_num (the seed: "
      "huawei.com/Ascend910 must match config.json's worldSize).",
      scope="stack")
def npu_matches_config(stack: StackView) -> list[tuple[str, Optional[str]]]:
    problems: list[tuple[str, Optional[str]]] = []
    groups = {str(get(g, "deployment")): g for g in declared_groups(stack)}
    for w in stack.workloads("server"):
        counts = [
            number(lim) for _, c in containers(pod_spec(w.props)) for _, (_, lim) in npu_counts(c).items()
        ]
        if not counts:
            problems.append((f"{w.kind} {object_name(w.props)}: a server without an NPU request", w.urn))
            continue
        chips = sum(c or 0 for c in counts)
        group = groups.get(object_name(w.props))
        if group is not None and number(get(group, "npu_chip_num")) != chips:
            problems.append((
                f"{object_name(w.props)}: NPU count {fmt(chips)} != npu_chip_num "
                f"{fmt(get(group, 'npu_chip_num'))} of group {get(group, 'group')!r}", w.urn))
        for cm, key, doc in server_configs(stack, w):
            for path, value in find_keys(doc, lambda k: k == "worldSize"):
                if number(value) != chips:
                    problems.append((
                        f"{object_name(w.props)}: NPU count {fmt(chips)} != {object_name(cm.props)}/{key} "
                        f"{path} = {fmt(value)}", w.urn))
            for path, value in find_keys(doc, lambda k: k == "npuDeviceIds"):
                for ids in seq(value):
                    if len(seq(ids)) != chips:
                        problems.append((
                            f"{object_name(w.props)}: {object_name(cm.props)}/{key} {path} lists "
                            f"{len(seq(ids))} devices, the pod gets {fmt(chips)}", w.urn))
    return problems


def npu_inventory(stack: StackView) -> Mapping[str, Any]:
    """The declared NPU capacity: policy config `npuInventory`, else the stack output `npuInventory`."""
    return get(stack.config, "npuInventory") or get(stack.outputs, "npuInventory") or {}


@rule("rollout-fits-npu-inventory", "npu-rollout",
      "With the declared NPU inventory, every server group fits and its rolling update can complete: "
      "either maxUnavailable frees a pod's NPUs first, or there are free NPUs for a surge pod on one node.",
      "Raise max_unavailable (so an old pod leaves first), lower max_surge, lower replicas or add capacity "
      "to mindie:npuInventory.",
      scope="stack",
      config={"npuInventory": {"type": "object"}})
def rollout_fits_npu_inventory(stack: StackView) -> list[tuple[str, Optional[str]]]:
    inventory = npu_inventory(stack)
    if not inventory:
        return _against_planned_capacity(stack)
    problems: list[tuple[str, Optional[str]]] = []
    by_type: dict[str, list[tuple[StackResource, int, int]]] = {}
    for w in stack.workloads():
        for _, c in containers(pod_spec(w.props)):
            for npu, (_, lim) in npu_counts(c).items():
                n = int(number(lim) or 0)
                replicas = int(number(get(w.props, "spec", "replicas", default=1)) or 0)
                by_type.setdefault(npu.split("/", 1)[1], []).append((w, n, replicas))
    for npu_type, groups in sorted(by_type.items()):
        capacity = get(inventory, npu_type)
        if capacity is None:
            for w, _, _ in groups:
                problems.append(
                    (f"{object_name(w.props)} needs {npu_type} but the inventory declares none", w.urn)
                )
            continue
        nodes = int(number(get(capacity, "nodes")) or 0)
        per_node = int(number(get(capacity, "chipsPerNode")) or 0)
        total = nodes * per_node
        used = sum(n * r for _, n, r in groups)
        what = f"{npu_type} inventory {nodes} nodes x {per_node} chips"
        if used > total:
            problems.append((f"{what} = {total} chips; the server groups need {used} at steady state", None))
        for w, n, replicas in groups:
            if n > per_node:
                problems.append(
                    (f"{object_name(w.props)}: one pod needs {n} chips, a node has {per_node}", w.urn)
                )
                continue
            bounds = rollout_bounds(w.props)
            if bounds is None:
                continue
            _, surge, unavailable = bounds
            if unavailable >= 1:
                continue
            if len(groups) == 1:
                free_pods = nodes * (per_node // n) - replicas
            else:  # several groups share the nodes: count chips (an optimistic packing)
                free_pods = (total - used) // n
            if surge >= 1 and free_pods >= 1:
                continue
            peak = (replicas + max(surge, 1)) * n
            problems.append((
                f"{object_name(w.props)}: the rollout needs {peak} {npu_type} chips at peak "
                f"({replicas} replicas + {surge} surge x {n} chips) but {what} has room for "
                f"{max(free_pods, 0)} more pod(s), and maxUnavailable rounds to 0: the surge pod stays "
                "Pending and the rollout never completes", w.urn))
    return problems


def _against_planned_capacity(stack: StackView) -> list[tuple[str, Optional[str]]]:
    """Without a raw inventory: the per-group pod capacity the stack declares (a `rolloutPlan`-like
    output: group/deployment + capacityPods), checked against the Deployments' own rollout settings."""
    problems: list[tuple[str, Optional[str]]] = []
    capacity: dict[str, int] = {}
    for key in stack.outputs:
        for item in seq(stack.outputs[key]):
            # capacityPods null = no inventory declared (the engine keeps a None output as null).
            if not is_map(item) or get(item, "capacityPods") is None:
                continue
            if "deployment" in item or "group" in item:
                target = str(get(item, "deployment") or get(item, "group"))
                capacity[target] = int(number(get(item, "capacityPods")) or 0)
    for w in stack.workloads():
        name = object_name(w.props)
        bounds = rollout_bounds(w.props)
        if name not in capacity or bounds is None:
            continue
        replicas, surge, unavailable = bounds
        slots = capacity[name]
        if replicas > slots:
            problems.append(
                (f"{name}: {replicas} replicas but the NPU inventory has room for {slots} pods", w.urn)
            )
        elif unavailable < 1 and (surge < 1 or slots - replicas < 1):
            problems.append((
                f"{name}: the rollout cannot complete: maxUnavailable rounds to 0 and the inventory has room "
                f"for {slots} pods, {replicas} in use, surge {surge}: the surge pod stays Pending", w.urn))
    return problems


# ---------------------------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------------------------


def server_containers(props: Any) -> list[tuple[str, Any]]:
    """The main containers of a server pod (those that get NPUs, else all regular containers)."""
    main = [
        (f"containers[{get(c, 'name', default='?')}]", c) for c in seq(get(pod_spec(props), "containers"))
    ]
    with_npu = [(w, c) for w, c in main if npu_counts(c)]
    return with_npu or main


@rule("server-probes", "probes",
      "Every MindIE Server container has a startup, a readiness and a liveness probe.",
      "Declare startupProbe (init_delay), readinessProbe and livenessProbe as the Deployer did "
      "(http_client_ctl on the management port).",
      types=WORKLOAD_KINDS)
def server_probes(props: Any, ctx: ResourceContext) -> list[str]:
    if component(props) != "server":
        return []
    return [
        f"{where}: no {probe}"
        for where, c in server_containers(props)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
        if get(c, probe) is None
    ]


@rule("server-probe-ranges", "probes",
      "Server probe settings stay within the seed's ranges: liveness/readiness timeoutSeconds 1-600 and "
      "failureThreshold 1-10; the startup window (initialDelaySeconds + periodSeconds x failureThreshold) "
      "10-1800 s (init_delay).",
      "Take the probe values from mindie:inferServer (liveness_timeout, readiness_timeout, "
      "*_failure_threshold, init_delay) within the seed's ranges.",
      types=WORKLOAD_KINDS, severity=Severity.MEDIUM)
def server_probe_ranges(props: Any, ctx: ResourceContext) -> list[str]:
    if component(props) != "server":
        return []
    problems = []
    for where, c in server_containers(props):
        for probe, ranges in PROBE_RANGES.items():
            if get(c, probe) is None:
                continue
            for key, (lo, hi) in ranges.items():
                value = number(get(c, probe, key, default=PROBE_DEFAULTS[key]))
                if value is None or not lo <= value <= hi:
                    problems.append(f"{where}: {probe}.{key} = {fmt(value)}: allowed {lo} to {hi}")
        startup = get(c, "startupProbe")
        if startup is not None:
            window = (
                (number(get(startup, "initialDelaySeconds", default=0)) or 0)
                + (number(get(startup, "periodSeconds", default=10)) or 0)
                * (number(get(startup, "failureThreshold", default=3)) or 0)
            )
            lo, hi = STARTUP_WINDOW
            if not lo <= window <= hi:
                problems.append(
                    f"{where}: startupProbe window {fmt(window)} s: allowed {lo} to {hi} (init_delay)"
                )
    return problems


# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------


@rule("service-no-load-balancer", "network",
      "No Service is of type LoadBalancer or has externalIPs: the entry is a NodePort, everything else stays "
      "in-cluster.",
      "Use type NodePort for the entry (mindie:entry) and ClusterIP otherwise.",
      types=("Service",))
def service_no_load_balancer(props: Any, ctx: ResourceContext) -> list[str]:
    problems = []
    if get(props, "spec", "type") == "LoadBalancer":
        problems.append(f"Service {object_name(props)} is of type LoadBalancer")
    if seq(get(props, "spec", "externalIPs")):
        ips = plain(get(props, "spec", "externalIPs"))
        problems.append(f"Service {object_name(props)} has externalIPs {ips}")
    return problems


@rule("service-node-port-range", "network",
      "Every nodePort lies in 30000-32767 (the seed's service_port range).",
      "Set service_port within 30000-32767.",
      types=("Service",))
def service_node_port_range(props: Any, ctx: ResourceContext) -> list[str]:
    lo, hi = NODE_PORT_RANGE
    return [
        f"Service {object_name(props)}: nodePort {fmt(get(p, 'nodePort'))} outside {lo}-{hi}"
        for p in seq(get(props, "spec", "ports"))
        if get(p, "nodePort") is not None and not lo <= (number(get(p, "nodePort")) or 0) <= hi
    ]


@rule("service-node-port-only-entry", "network",
      "Only the entry component's Service (stack output `entry`: server or coordinator) is a NodePort.",
      "Make every other Service ClusterIP; choose the entry with mindie:entry.",
      scope="stack")
def service_node_port_only_entry(stack: StackView) -> list[tuple[str, Optional[str]]]:
    entry = stack.entry
    allowed = (entry,) if entry else ("server", "coordinator")
    return [
        (f"Service {object_name(s.props)} (component {component(s.props) or '(none)'!r}) is a NodePort "
         f"but the entry is {entry or 'server or coordinator'}", s.urn)
        for s in stack.of_kind("Service")
        if get(s.props, "spec", "type") == "NodePort" and component(s.props) not in allowed
    ]


def selector_matches(selector: Any, pod_labels: Mapping[str, Any]) -> bool:
    """A LabelSelector against labels ({} selects everything)."""
    for key in get(selector, "matchLabels", default={}):
        if pod_labels.get(key) != get(selector, "matchLabels", key):
            return False
    for expr in seq(get(selector, "matchExpressions")):
        key, op = str(get(expr, "key")), str(get(expr, "operator"))
        values = [str(v) for v in seq(get(expr, "values"))]
        present = key in pod_labels
        if op == "In" and (not present or str(pod_labels[key]) not in values):
            return False
        if op == "NotIn" and present and str(pod_labels[key]) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def open_peer(peer: Any) -> bool:
    """A NetworkPolicy peer that admits every source (any pod of any namespace, or any address)."""
    if not is_map(peer) or len(peer) == 0:
        return True
    cidr = str(get(peer, "ipBlock", "cidr", default=""))
    if cidr in ("0.0.0.0/0", "::/0"):
        return True
    ns = get(peer, "namespaceSelector")
    pods = get(peer, "podSelector")
    return ns is not None and len(ns) == 0 and (pods is None or len(pods) == 0)


def ingress_policies(stack: StackView, namespace: str, pod_labels: Mapping[str, Any]) -> list[StackResource]:
    found = []
    for np in stack.of_kind("NetworkPolicy"):
        types = [str(t) for t in seq(get(np.props, "spec", "policyTypes"))] or ["Ingress"]
        if (
            namespace_of(np.props) == namespace
            and "Ingress" in types
            and selector_matches(get(np.props, "spec", "podSelector", default={}), pod_labels)
        ):
            found.append(np)
    return found


@rule("network-policies", "network",
      "NetworkPolicies select the server, coordinator, controller and ms-server pods (those deployed) "
      "and restrict their ingress: no rule admits every source, except the entry component's, which "
      "may be reached from anywhere on named ports only. The ms-server's API creates Deployments: "
      "only msctl's sources (addresses, namespaces) may reach it.",
      "Declare the mindie:network:NetworkPolicies component (components/network.py) or equivalent policies.",
      scope="stack")
def network_policies(stack: StackView) -> list[tuple[str, Optional[str]]]:
    problems: list[tuple[str, Optional[str]]] = []
    for w in stack.workloads(*PROTECTED_COMPONENTS):
        pod_labels = plain(get(pod_template(w.props), "metadata", "labels", default={}))
        comp = component(w.props)
        selecting = ingress_policies(stack, namespace_of(w.props), pod_labels)
        name = f"{w.kind} {object_name(w.props)} ({comp})"
        if not selecting:
            problems.append((f"{name}: no NetworkPolicy selects its pods, any pod may connect", w.urn))
            continue
        for np in selecting:
            for i, r in enumerate(seq(get(np.props, "spec", "ingress"))):
                sources = seq(get(r, "from"))
                if sources and not any(open_peer(s) for s in sources):
                    continue
                if comp == stack.entry and seq(get(r, "ports")):
                    continue  # the entry: reachable from outside on its named ports only
                problems.append((
                    f"{name}: NetworkPolicy {object_name(np.props)} ingress[{i}] admits every source"
                    + ("" if comp == stack.entry else f" but {comp} is not the entry")
                    + ("" if seq(get(r, "ports")) else " on every port"), np.urn))
    return problems


# ---------------------------------------------------------------------------------------------
# RBAC
# ---------------------------------------------------------------------------------------------


def is_ms_role(props: Any) -> bool:
    return object_name(props) == MS_ROLE_NAME or get(labels(props), COMPONENT_LABEL) == "ms-server"


@rule("rbac-no-wildcards", "rbac",
      "No Role or ClusterRole rule uses * in verbs, resources, apiGroups or nonResourceURLs.",
      "List the verbs and resources the component needs (the seed's ms-role table).",
      types=ROLE_KINDS, severity=Severity.CRITICAL)
def rbac_no_wildcards(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"{kind_of(ctx.type) or 'role'} {object_name(props)} rules[{i}].{key} contains '*'"
        for i, r in enumerate(seq(get(props, "rules")))
        for key in ("verbs", "resources", "apiGroups", "nonResourceURLs")
        if any("*" in str(v) for v in seq(get(r, key)))
    ]


@rule("rbac-no-escalation", "rbac",
      "No Role or ClusterRole grants bind, escalate or impersonate.",
      "Remove the bind / escalate / impersonate verbs.",
      types=ROLE_KINDS, severity=Severity.CRITICAL)
def rbac_no_escalation(props: Any, ctx: ResourceContext) -> list[str]:
    return [
        f"{object_name(props)} rules[{i}] grants {sorted(bad)}"
        for i, r in enumerate(seq(get(props, "rules")))
        if (bad := {str(v) for v in seq(get(r, "verbs"))} & ESCALATION_VERBS)
    ]


@rule("rbac-ms-role-verbs", "rbac",
      "The ms-server's role (ms-role) grants nothing beyond the seed's table: deployments create/delete/get/"
      "patch; pods get/list/patch; configmaps get/create/delete; services get/create/delete.",
      "Keep ms-role to exactly the seed's rules (components/rbac.py).",
      types=ROLE_KINDS)
def rbac_ms_role_verbs(props: Any, ctx: ResourceContext) -> list[str]:
    if not is_ms_role(props):
        return []
    problems = []
    for i, r in enumerate(seq(get(props, "rules"))):
        if seq(get(r, "nonResourceURLs")):
            problems.append(f"rules[{i}]: nonResourceURLs are not in the seed's table")
        verbs = {str(v) for v in seq(get(r, "verbs"))}
        for group in [str(g) for g in seq(get(r, "apiGroups"))] or [""]:
            for res in [str(x) for x in seq(get(r, "resources"))]:
                allowed = MS_ROLE_RULES.get((group, res))
                if allowed is None:
                    problems.append(f"rules[{i}]: {group or 'core'}/{res} is not in the seed's table")
                elif verbs - allowed:
                    problems.append(
                        f"rules[{i}]: {group or 'core'}/{res} verbs {sorted(verbs - allowed)} "
                        f"beyond {sorted(allowed)}"
                    )
    return problems


def kubeclient_cn(stack: StackView, binding: StackResource) -> Optional[str]:
    """The CN of the kubeclient certificate: its CSR's subject, else a stack output."""
    candidates = []
    for urn in binding.property_dependencies.get("subjects", []) + binding.dependencies:
        r = stack.by_urn(urn)
        if r is not None and r.type == TLS_CERT_REQUEST:
            candidates.append(r)
    candidates += [r for r in stack.of_type(TLS_CERT_REQUEST) if "kubeclient" in r.name]
    for r in candidates:
        cn = get(r.props, "subject", "commonName")
        if cn:
            return str(cn)
    for key in ("kubeclientCn", "kubeclientCN", "kubeclient_cn"):
        if get(stack.outputs, key):
            return str(get(stack.outputs, key))
    return None


@rule("rbac-binding-subject", "rbac",
      "The binding of ms-role names exactly one subject: the User whose name is the kubeclient "
      "certificate's CN.",
      "Bind ms-role to kind User, name = the CA component's kubeclient_cn output (not a repeated string).",
      scope="stack")
def rbac_binding_subject(stack: StackView) -> list[tuple[str, Optional[str]]]:
    role_names = {object_name(r.props) for r in stack.of_kind(*ROLE_KINDS) if is_ms_role(r.props)}
    problems: list[tuple[str, Optional[str]]] = []
    for b in stack.of_kind(*BINDING_KINDS):
        if str(get(b.props, "roleRef", "name")) not in role_names and not is_ms_role(b.props):
            continue
        cn = kubeclient_cn(stack, b)
        subjects = seq(get(b.props, "subjects"))
        shown = [f"{get(s, 'kind')}:{get(s, 'name')}" for s in subjects]
        if cn is None:
            continue  # issued outside the stack (the seed's manual way): nothing to compare
        if len(subjects) != 1 or get(subjects[0], "kind") != "User" or get(subjects[0], "name") != cn:
            problems.append((f"{object_name(b.props)}: subjects {shown}, expected exactly User:{cn} "
                             "(the kubeclient certificate's CN)", b.urn))
    return problems


# ---------------------------------------------------------------------------------------------
# TLS and secrets
# ---------------------------------------------------------------------------------------------


def tls_switches(stack: StackView) -> list[tuple[str, Any, Optional[str]]]:
    """(where, value, urn) of every TLS switch the stack declares."""
    found: list[tuple[str, Any, Optional[str]]] = []
    for key in ("enableTls", "enable_tls"):
        if get(stack.outputs, key) is not None:
            urn = stack.stack.urn if stack.stack else None
            found.append((f"stack output {key}", get(stack.outputs, key), urn))
    for w in stack.workloads("server"):
        for where, c in containers(pod_spec(w.props)):
            for env in seq(get(c, "env")):
                if get(env, "name") == "MINDIE_USE_HTTPS" and get(env, "value") is not None:
                    where_env = f"{object_name(w.props)} {where} env MINDIE_USE_HTTPS"
                    found.append((where_env, get(env, "value"), w.urn))
    for cm in stack.of_kind("ConfigMap"):
        for key, doc in json_documents(cm.props).items():
            for path, value in find_keys(doc, lambda k: k in TLS_SWITCHES):
                found.append((f"ConfigMap {object_name(cm.props)}/{key} {path}", value, cm.urn))
    return found


def is_off(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"))


@rule("tls-enabled", "tls-secrets",
      "In staging and prod TLS is on everywhere: mindie_server_config.enable_tls, the server's httpsEnabled "
      "and MINDIE_USE_HTTPS, the probes' and Motor's tls_enable, ms_server.json's client TLS switches.",
      "Set mindie:inferServer.mindie_server_config.enable_tls: true (the seed warns that plain HTTP is a "
      "high network security risk).",
      scope="stack", severity=Severity.CRITICAL)
def tls_enabled(stack: StackView) -> list[tuple[str, Optional[str]]]:
    if stack.environment not in ("staging", "prod"):
        return []
    return [
        (f"{where} = {fmt(value)} in {stack.environment}", urn)
        for where, value, urn in tls_switches(stack)
        if is_off(value)
    ]


def _subject_of(r: StackResource) -> dict[str, str]:
    return {k: str(get(r.props, "subject", k, default="")) for k in INTERMEDIATE_SUBJECT}


@rule("tls-intermediate-subject", "tls-secrets",
      "The intermediate CA (a CA certificate signed by another CA) has the subject CN=mindiems, O=msgroup, "
      "the only intermediate the ms components accept.",
      "Issue the intermediate from a CSR with subject common_name=mindiems, organization=msgroup.",
      scope="stack")
def tls_intermediate_subject(stack: StackView) -> list[tuple[str, Optional[str]]]:
    problems: list[tuple[str, Optional[str]]] = []
    for csr in stack.of_type(TLS_CERT_REQUEST):
        # a CSR named for the intermediate, however it is then signed (pulumi-tls or a dynamic resource)
        subject = _subject_of(csr)
        if "intermediate" in csr.name and subject != INTERMEDIATE_SUBJECT:
            problems.append((f"{csr.name}: intermediate subject CN={subject['commonName']}, "
                             f"O={subject['organization']}; expected CN=mindiems, O=msgroup", csr.urn))
    for cert in stack.of_type(TLS_LOCALLY_SIGNED):
        if get(cert.props, "isCaCertificate") is not True:
            continue
        deps = cert.property_dependencies.get("certRequestPem", []) or cert.dependencies
        csrs = [r for u in deps if (r := stack.by_urn(u)) is not None and r.type == TLS_CERT_REQUEST]
        if not csrs:
            problems.append((f"{cert.name}: cannot find the CSR of this CA certificate", cert.urn))
        for csr in csrs:
            subject = _subject_of(csr)
            if subject != INTERMEDIATE_SUBJECT:
                problems.append((f"{cert.name}: intermediate subject CN={subject['commonName']}, "
                                 f"O={subject['organization']}; expected CN=mindiems, O=msgroup", cert.urn))
    return problems


@rule("tls-key-strength", "tls-secrets",
      "Private keys are RSA with at least 4096 bits, or ECDSA P384/P521 when config chooses a stronger "
      "alternative (config `allowEcdsa`).",
      "Use algorithm RSA with rsa_bits 4096 (pulumi-tls defaults to 2048).",
      types=(TLS_PRIVATE_KEY,),
      config={"allowEcdsa": {"type": "boolean"}})
def tls_key_strength(props: Any, ctx: ResourceContext) -> list[str]:
    algorithm = str(get(props, "algorithm", default=""))
    if algorithm == "RSA":
        bits = number(get(props, "rsaBits", default=2048))
        if bits is None or bits < MIN_RSA_BITS:
            return [f"RSA key of {fmt(bits)} bits (pulumi-tls default 2048); at least {MIN_RSA_BITS} "
                    "required"]
        return []
    if algorithm == "ECDSA" and get(ctx.config, "allowEcdsa") is True:
        curve = str(get(props, "ecdsaCurve", default="P224"))
        return [] if curve in STRONG_CURVES else [f"ECDSA curve {curve}; only {list(STRONG_CURVES)} allowed"]
    return [f"algorithm {algorithm or '(none)'}: RSA >= {MIN_RSA_BITS} required"]


@rule("tls-validity", "tls-secrets",
      "Certificates are valid for at most 365 days (8760 hours), as the seed's openssl -days 365. A "
      "self-signed CA may get a longer, explicitly reviewed limit (config `selfSignedCaMaxHours`).",
      "Set validity_period_hours <= 8760 and early_renewal_hours so that `pulumi up` re-issues in time "
      "(in-cluster trust anchors are rotated by the program, pods roll on checksum/tls).",
      types=(TLS_LOCALLY_SIGNED, TLS_SELF_SIGNED),
      config={"selfSignedCaMaxHours": {"type": "integer"}})
def tls_validity(props: Any, ctx: ResourceContext) -> list[str]:
    limit = MAX_VALIDITY_HOURS
    exception = number(get(ctx.config, "selfSignedCaMaxHours"))
    if ctx.type == TLS_SELF_SIGNED and get(props, "isCaCertificate") is True and exception:
        limit = int(exception)
    hours = number(get(props, "validityPeriodHours"))
    if hours is None or hours > limit or hours <= 0:
        value = fmt(get(props, "validityPeriodHours"))
        return [f"validityPeriodHours {value}: allowed 1 to {limit}"]
    return []


def is_reference(value: str) -> bool:
    """A file path rather than a secret value (contains a slash or names a .txt/.pem/.key file)."""
    return bool(PATH_LIKE.fullmatch(value)) and ("/" in value or value.endswith((".txt", ".pem", ".key")))


def key_material(props: Any) -> list[tuple[str, str]]:
    """(path, what) of private keys (PEM) and passphrases (by key name) in props."""
    found = []
    for path, last, value in walk(props):
        if not isinstance(value, str) or not value:
            continue
        if PEM_PRIVATE_KEY.search(value):
            found.append((path, "a private key"))
        elif PASSPHRASE_KEY.search(last) and not is_reference(value) and not last.endswith("Ref"):
            found.append((path, "a passphrase"))
    return found


def _env_passphrases(props: Any) -> list[tuple[str, str]]:
    """Container env entries named like a passphrase with a literal value."""
    found = []
    for where, c in containers(pod_spec(props)):
        for env in seq(get(c, "env")):
            value = get(env, "value")
            named = PASSPHRASE_KEY.search(str(get(env, "name", default="")))
            if named and value and not is_reference(str(value)):
                found.append((f"{where} env {get(env, 'name')}", "a passphrase"))
    return found


DYNAMIC_PROVIDER = "pulumi:providers:pulumi-python"
"""The engine's default provider for Python dynamic resources. Its inputs are a copy of the whole
stack config (a staging/prod root CA key included): secret config stays a Pulumi secret, but a pack is
not told so (no additional_secret_outputs on a default provider), so checking it would flag every
`pulumi config set --secret` key. Found by the engine tier (docs/engine.md); mindiectl's mock runtime
registers no default providers."""


@rule("secrets-key-material", "tls-secrets",
      "Private keys and passphrases live only in Kubernetes Secrets or Pulumi secrets: never in a ConfigMap, "
      "an env value, an annotation or a plain (non-secret) property.",
      "Put the material in the CA component's Secrets (mounted as files) and keep Pulumi values "
      "pulumi.Output.secret / additional_secret_outputs.",
      severity=Severity.CRITICAL)
def secrets_key_material(props: Any, ctx: ResourceContext) -> list[str]:
    kind = kind_of(ctx.type)
    if kind == "Secret" or ctx.type == DYNAMIC_PROVIDER:
        return []
    found = key_material(props) + (_env_passphrases(props) if kind in WORKLOAD_KINDS else [])
    if kind == "ConfigMap":  # the generated JSON configs: a passphrase key must hold a file path
        for key, doc in json_documents(props).items():
            found += [(f"data.{key}:{path}", what) for path, what in key_material(doc)]
    problems = []
    for path, what in found:
        root = re.split(r"[.\[]", path)[0]
        if kind:  # a Kubernetes object other than a Secret: readable by anyone who can read it
            problems.append(f"{path} holds {what} in a {kind}")
        elif root not in ctx.secret_paths:
            problems.append(f"{path} holds {what} but is not a Pulumi secret")
    return problems


@rule("secrets-stack-outputs", "tls-secrets",
      "No stack output carries a private key or passphrase unless it is a Pulumi secret.",
      "Export key material with pulumi.Output.secret (or do not export it at all).",
      scope="stack", severity=Severity.CRITICAL)
def secrets_stack_outputs(stack: StackView) -> list[tuple[str, Optional[str]]]:
    if stack.stack is None:
        return []
    return [
        (f"stack output {path} holds {what} in plain text", stack.stack.urn)
        for path, what in key_material(stack.outputs)
        if re.split(r"[.\[]", path)[0] not in stack.stack.secret_paths
    ]


# ---------------------------------------------------------------------------------------------
# Stack level
# ---------------------------------------------------------------------------------------------


@rule("one-service-per-namespace", "stack",
      "One MindIE service per namespace (the Deployer supports only one): at most one ms-server, one "
      "coordinator, one controller and one NodePort entry per namespace.",
      "Deploy a second service into its own namespace (its own stack).",
      scope="stack")
def one_service_per_namespace(stack: StackView) -> list[tuple[str, Optional[str]]]:
    problems: list[tuple[str, Optional[str]]] = []
    groups: dict[tuple[str, str], list[StackResource]] = {}
    for w in stack.workloads("ms-server", "coordinator", "controller"):
        groups.setdefault((namespace_of(w.props), component(w.props)), []).append(w)
    for s in stack.of_kind("Service"):
        if get(s.props, "spec", "type") == "NodePort":
            groups.setdefault((namespace_of(s.props), "NodePort entry"), []).append(s)
    for (namespace, what), found in sorted(groups.items()):
        if len(found) > 1:
            names = sorted(object_name(r.props) for r in found)
            problems.append((f"namespace {namespace}: {len(found)} {what} objects {names}", found[1].urn))
    return problems


@rule("environment-consistent", "stack",
      "The stack's environment (output `environment`) is dev, staging or prod, agrees with the stack name "
      "and the namespace label, and staging/prod talk to a cluster (no renderYamlToDirectory).",
      "Set mindie:environment to the stack's environment; give staging and prod a kubeconfig context.",
      scope="stack")
def environment_consistent(stack: StackView) -> list[tuple[str, Optional[str]]]:
    env = stack.environment
    urn = stack.stack.urn if stack.stack else None
    if env not in ENVIRONMENTS:
        return [(f"stack output environment = {env!r}: must be one of {list(ENVIRONMENTS)}", urn)]
    problems: list[tuple[str, Optional[str]]] = []
    tokens = set(re.split(r"[-_.]", stack.stack_name))
    named = tokens & set(ENVIRONMENTS)
    if named and env not in named:
        problems.append((f"stack {stack.stack_name!r} declares environment {env!r}", urn))
    for ns in stack.of_kind("Namespace"):
        label = get(labels(ns.props), "mindie.huawei.com/environment")
        if label is not None and label != env:
            problems.append((
                f"Namespace {object_name(ns.props)} labelled environment {label!r}, stack is {env!r}",
                ns.urn))
    if env in ("staging", "prod"):
        for p in stack.of_type("pulumi:providers:kubernetes"):
            if get(p.props, "renderYamlToDirectory"):
                problems.append(
                    (f"provider {p.name} renders YAML in {env}: nothing would reach the cluster", p.urn)
                )
    return problems


# ---------------------------------------------------------------------------------------------
# CrossGuard wrapping
# ---------------------------------------------------------------------------------------------


def secret_roots(resource_type: str, additional_secret_outputs: Iterable[str]) -> frozenset[str]:
    roots = {re.split(r"[.\[]", str(p))[0] for p in additional_secret_outputs or []}
    return frozenset(roots | SCHEMA_SECRETS.get(resource_type, frozenset()))


def resource_context(args: ResourceValidationArgs) -> ResourceContext:
    secret = getattr(args.opts, "additional_secret_outputs", None) or []
    return ResourceContext(
        type=args.resource_type, name=args.name, urn=args.urn,
        config=args.get_config() or {}, secret_paths=secret_roots(args.resource_type, secret),
    )


def stack_view(args: StackValidationArgs) -> StackView:
    resources = []
    for r in args.resources:
        secret = getattr(r.opts, "additional_secret_outputs", None) or []
        resources.append(StackResource(
            type=r.resource_type, name=r.name, urn=r.urn, props=r.props,
            parent=r.parent.urn if r.parent is not None else "",
            dependencies=[d.urn for d in r.dependencies],
            property_dependencies={k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
            secret_paths=secret_roots(r.resource_type, secret),
        ))
    return StackView(resources, args.get_config() or {})


def to_policy(r: Rule) -> Policy:
    """The rule as a pulumi_policy ResourceValidationPolicy / StackValidationPolicy."""
    schema = PolicyConfigSchema(properties=r.config) if r.config else None
    common = dict(
        enforcement_level=r.level, config_schema=schema, severity=r.severity,
        remediation_steps=r.remediation, tags=[r.family],
    )
    if r.scope == "resource":
        def validate_resource(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if not r.applies_to(args.resource_type):
                return
            for message in r.check(args.props, resource_context(args)):
                report_violation(message, None)

        return ResourceValidationPolicy(r.name, r.description, validate_resource, **common)

    def validate_stack(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in r.check(stack_view(args)):
            report_violation(message, urn)

    return StackValidationPolicy(r.name, r.description, validate_stack, **common)


def policies() -> list[Policy]:
    """Every rule of the pack, as pulumi_policy objects (what `__main__.py` hands to PolicyPack)."""
    return [to_policy(r) for r in RULES]
