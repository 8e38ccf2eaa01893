"""Which settings are the release (promoted dev -> staging -> prod) and which belong to the environment.

`CLASSIFICATION` is THE one place that decides it. Every setting path (config
key without the `mindie:` prefix, then sub-keys as spelt in the stack file,
`*` for each entry of a dict-of-objects) maps to a `Kind` and a reason. A path
classifies its whole subtree; a more specific entry overrides it (e.g.
`inferServer` is environment, `inferServer.mindie_server_config` release).
`tests/test_promote.py` walks the `Settings` model and fails on any field no
entry covers and on any entry that names no field: nobody can add a setting
without deciding whether it is promoted.

The rule of thumb:
- release = WHAT runs and how it behaves: image references/digests, the MindIE
  server config (install path, ports inside the pod, TLS on/off), the
  deployment shape the model needs, the coordinator algorithm, the certificate
  policy (validity, key algorithm, usages). Tested in dev, then promoted as is.
- environment = WHERE and HOW MUCH: replicas, namespace, Kubernetes target,
  NodePorts, scheduler, node selectors and NPU inventory, resources, probe
  tuning under the environment's load, rollout pace, root CA and passphrases.
  These never move between stacks.

The same table drives three things: `mindiectl promote` (copies release paths
from one Pulumi.<stack>.yaml to another), the release fingerprint exported as
the `release` stack output, and the StackReference mode (`mindie:releaseFrom`),
where a stack takes its release from another stack's `release` output.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Optional

from pydantic import BaseModel, Field

from domain.hashing import sha256_hex
from domain.numbers import integral

from .fields import StrictModel, StrictStr


class Kind(StrEnum):
    RELEASE = "release"
    """Promoted: copied from the source stack to the target stack."""
    ENVIRONMENT = "environment"
    """Never moves: each stack keeps its own value."""


RELEASE = Kind.RELEASE
ENVIRONMENT = Kind.ENVIRONMENT

CLASSIFICATION: dict[str, tuple[Kind, str]] = {
    # --- foundation ---
    "environment": (ENVIRONMENT, "which environment the stack is; the promotion order follows it"),
    "namespace": (ENVIRONMENT, "where the objects live in that environment's cluster"),
    "entry": (ENVIRONMENT, "topology: dev exposes the server, staging/prod the coordinator"),
    "kubernetes": (ENVIRONMENT, "the Kubernetes target (render directory, kubeconfig, context)"),
    "stateDir": (ENVIRONMENT, "where this stack keeps its offline state"),
    "runtimeUser": (RELEASE, "the UID/GID the release's images own their files with and its pods run as"),
    "network": (ENVIRONMENT, "client networks and API server addresses of the environment's cluster"),
    # --- inferServer: the seed's infer_server.json, per sub-key ---
    # No entry for `inferServer` itself: each sub-key is decided, so a new one fails the test until it is.
    "inferServer.server_name": (
        ENVIRONMENT,
        "object names in the environment's cluster; renaming replaces every object",
    ),
    "inferServer.replicas": (ENVIRONMENT, "capacity of the environment"),
    "inferServer.service_port": (ENVIRONMENT, "NodePort allocated in that cluster's 30000-32767 range"),
    "inferServer.service_type": (ENVIRONMENT, "how the environment's cluster exposes the service"),
    "inferServer.scheduler": (ENVIRONMENT, "volcano exists in staging/prod clusters, not necessarily in dev"),
    "inferServer.npu_fault_reschedule": (ENVIRONMENT, "needs volcano and MindCluster in the environment"),
    "inferServer.resource_requests": (
        ENVIRONMENT,
        "hardware of the environment (dev: one Ascend910 chip, prod: 8 x Ascend910)",
    ),
    "inferServer.init_delay": (ENVIRONMENT, "model load time on the environment's hardware and storage"),
    "inferServer.detect_server_inner_error": (
        ENVIRONMENT,
        "the seed: may restart pods under high concurrency; tuned to the environment's load",
    ),
    "inferServer.liveness_timeout": (ENVIRONMENT, "the seed: set from the load's concurrency"),
    "inferServer.liveness_failure_threshold": (ENVIRONMENT, "the seed: set from the load's concurrency"),
    "inferServer.readiness_timeout": (ENVIRONMENT, "the seed: set from the load's concurrency"),
    "inferServer.readiness_failure_threshold": (ENVIRONMENT, "the seed: set from the load's concurrency"),
    "inferServer.termination_grace_period_seconds": (
        ENVIRONMENT,
        "the seed: sized to the in-flight requests of the environment's load",
    ),
    "inferServer.max_unavailable": (ENVIRONMENT, "rollout pace against the environment's spare capacity"),
    "inferServer.max_surge": (ENVIRONMENT, "rollout pace against the environment's spare NPUs"),
    "inferServer.mindie_server_config": (
        RELEASE,
        "what runs in the pod: install path in the image, its ports, HTTPS on or off",
    ),
    "inferServer.server_type": (RELEASE, "the deployment shape the release is built and tested for"),
    "inferServer.cross_node_num": (RELEASE, "nodes per instance, a property of the model's shape"),
    # --- CA chain (issue 3): the certificate policy is release, the CAs and secrets are per stack ---
    "tls.rootCa": (ENVIRONMENT, "the environment's cluster root CA (secret): never leaves its stack"),
    "tls.allowDemoRootCa": (
        ENVIRONMENT,
        "accepts the committed demo root CA in that stack only (offline previews)",
    ),
    "tls.businessCa": (ENVIRONMENT, "the environment's business-plane CA (secret)"),
    "tls.managementCa": (ENVIRONMENT, "the environment's management-plane CA (secret)"),
    "tls.keyPassphrase": (ENVIRONMENT, "each stack encrypts its keys under its own passphrase (secret)"),
    "tls.validityDays": (RELEASE, "certificate policy: validity of the intermediate and the leaves"),
    "tls.earlyRenewalDays": (RELEASE, "certificate policy: when `pulumi up` re-issues"),
    "tls.caValidityDays": (RELEASE, "certificate policy: validity of the self-signed CAs"),
    "tls.keyAlgorithm": (RELEASE, "certificate policy: key algorithm the components are tested with"),
    "tls.rsaBits": (RELEASE, "certificate policy: RSA key size"),
    "tls.ecdsaCurve": (RELEASE, "certificate policy: ECDSA curve"),
    "tls.kubeclientCn": (ENVIRONMENT, "the user the environment's cluster RBAC binds"),
    "tls.sans": (ENVIRONMENT, "names and addresses the environment's clients use"),
    "tls.crl": (ENVIRONMENT, "revocations of the environment's own certificates"),
    # --- ms-server Deployer (issue 4): mindie:msServer, per sub-key (no parent entries) ---
    # The release is the image that was tested (its reference, ideally a digest). Building it is
    # an environment choice: whichever stage builds (source: build) uses its own build inputs.
    "msServer.image.source": (ENVIRONMENT, "which stage builds the image; later stages run it as built"),
    "msServer.image.reference": (RELEASE, "the ms-server image (registry, tag or digest) tested"),
    "msServer.image.context": (ENVIRONMENT, "a directory on the machine that builds"),
    "msServer.image.base_image": (ENVIRONMENT, "build input of the stage that builds (source: build)"),
    "msServer.image.base_digest": (ENVIRONMENT, "build input of the stage that builds, pinned"),
    "msServer.image.push": (ENVIRONMENT, "whether this machine pushes to the registry"),
    "msServer.image.platform": (ENVIRONMENT, "build platform of the stage that builds"),
    "msServer.image.pull_secret": (ENVIRONMENT, "a Secret of the environment's namespace"),
    "msServer.user": (RELEASE, "the image's user"),
    "msServer.group": (RELEASE, "the image's group"),
    "msServer.ip": (RELEASE, "ms_server.json inside the pod"),
    "msServer.port": (RELEASE, "ms_server.json port inside the pod (msctl's dstPort)"),
    "msServer.k8s_apiserver_ip": (ENVIRONMENT, "the environment's Kubernetes API server"),
    "msServer.k8s_apiserver_port": (ENVIRONMENT, "the environment's Kubernetes API server"),
    "msServer.log_level": (ENVIRONMENT, "dev may debug, prod logs INFO"),
    "msServer.client_mindie_server_tls_enable": (RELEASE, "certificate policy: HTTPS to the servers"),
    "msServer.termination_grace_period_seconds": (ENVIRONMENT, "sized to the environment's load"),
    "msServer.resources": (ENVIRONMENT, "capacity of the environment"),
    "msServer.rbac": (ENVIRONMENT, "the permission scope granted in that cluster"),
    "msServer.storage": (ENVIRONMENT, "storage mode, class and size of the environment"),
    "msServer.service_cluster_ip": (ENVIRONMENT, "an address of that cluster's service CIDR"),
    "msServer.msctl": (ENVIRONMENT, "the operator's msctl client settings for that cluster"),
    # --- server instance groups and NPU inventory (issue 5) ---
    # --- Coordinator/Controller (issue 6): mindie:motor, per sub-key (no parent entries) ---
    "motor.enabled": (ENVIRONMENT, "topology: whether this environment runs Coordinator/Controller"),
    "motor.image": (RELEASE, "the Motor image (tag or digest) tested upstream"),
    "motor.image_build": (ENVIRONMENT, "which stage derives the image; later stages run it as built"),
    "motor.image_pull_policy": (ENVIRONMENT, "how the environment's nodes reach the registry"),
    "motor.mindie_user_home_path": (RELEASE, "install layout inside the image"),
    "motor.mies_install_path": (RELEASE, "install layout inside the image"),
    "motor.read_only_root_filesystem": (RELEASE, "what the software in the image tolerates"),
    "motor.log_level": (ENVIRONMENT, "dev may debug, prod logs INFO"),
    "motor.avoid_npu_nodes": (ENVIRONMENT, "placement on the environment's nodes (NPU nodes kept free)"),
    "motor.coordinator.image": (RELEASE, "the Coordinator image override"),
    "motor.coordinator.node_selector": (ENVIRONMENT, "node labels of the environment's cluster"),
    "motor.coordinator.resources": (ENVIRONMENT, "capacity of the environment"),
    "motor.coordinator.algorithm_type": (RELEASE, "the coordinator algorithm the release was tested with"),
    "motor.coordinator.cache_size": (RELEASE, "cache_affinity tuning, part of the algorithm"),
    "motor.coordinator.slots_thresh": (RELEASE, "cache_affinity tuning, part of the algorithm"),
    "motor.coordinator.block_thresh": (RELEASE, "cache_affinity tuning, part of the algorithm"),
    "motor.coordinator.ports": (RELEASE, "ports inside the pod, wired into the Motor config"),
    "motor.coordinator.single_node_max_requests": (ENVIRONMENT, "admission limits sized to the load"),
    "motor.coordinator.max_requests": (ENVIRONMENT, "admission limits sized to the load"),
    "motor.coordinator.http_timeout_seconds": (RELEASE, "request behaviour tested with the model"),
    "motor.coordinator.startup_timeout_seconds": (ENVIRONMENT, "startup time on the environment"),
    "motor.coordinator.liveness_probe": (ENVIRONMENT, "the seed: a probe under load restarts it; per load"),
    "motor.controller.image": (RELEASE, "the Controller image override"),
    "motor.controller.node_selector": (ENVIRONMENT, "node labels of the environment's cluster"),
    "motor.controller.resources": (ENVIRONMENT, "capacity of the environment"),
    "motor.controller.port": (RELEASE, "port inside the pod, wired into the Motor config"),
    "motor.controller.state_storage": (ENVIRONMENT, "storage class and size of the environment"),
    "motor.controller.startup_timeout_seconds": (ENVIRONMENT, "startup time on the environment"),
    "motor.controller.disappeared_server_waiting_seconds": (RELEASE, "fault-recovery behaviour"),
    "motor.controller.http_timeout_seconds": (RELEASE, "controller behaviour tested with the release"),
    "motor.controller.http_retries": (RELEASE, "controller behaviour tested with the release"),
    "motor.controller.ranktable_writer.image": (RELEASE, "the rank-table writer's image (python3) override"),
    "motor.controller.ranktable_writer.refresh_seconds": (ENVIRONMENT, "API load vs. freshness per cluster"),
    "motor.controller.ranktable_writer.token_expiration_seconds": (
        ENVIRONMENT,
        "the cluster's service-account token policy",
    ),
    "motor.controller.ranktable_writer.resources": (ENVIRONMENT, "capacity of the environment"),
    # mindie:servers (issue 5): mixes the release (image, engine knobs) and the environment (storage).
    "servers.image": (RELEASE, "the MindIE Server image (tag or digest) tested upstream"),
    "servers.imageBuild": (ENVIRONMENT, "which stage derives the image; later stages run it as built"),
    "servers.imagePullPolicy": (ENVIRONMENT, "how the environment's nodes reach the registry"),
    "servers.ascendHome": (RELEASE, "install layout inside the image"),
    "servers.model.hostPath": (ENVIRONMENT, "where the environment's nodes keep the weights"),
    "servers.model.persistentVolumeClaim": (ENVIRONMENT, "the environment's claim holding the weights"),
    "servers.model.mountPath": (RELEASE, "where the release's config.json expects the weights"),
    "servers.model.weightDir": (RELEASE, "which weights the release serves"),
    "servers.model.modelName": (RELEASE, "the model the release serves"),
    "servers.writableData": (ENVIRONMENT, "scratch storage of the environment's nodes"),
    "servers.shmSizeLimit": (ENVIRONMENT, "memory of the environment's nodes"),
    "servers.securityContext": (RELEASE, "what the image's software tolerates (read-only root filesystem)"),
    "servers.securityContext.supplementalGroups": (
        ENVIRONMENT,
        "the group that owns the NPU device files on the environment's nodes",
    ),
    "servers.mountDriverFromHost": (ENVIRONMENT, "how the environment's NPU runtime exposes the driver"),
    "servers.limitPolicy": (ENVIRONMENT, "QoS class chosen for the environment's nodes"),
    "servers.engine": (RELEASE, "engine limits and logging tested with the model"),
    "servers.certSubject": (RELEASE, "certificate policy for the per-pod server certificates"),
    "servers.extraGroups": (ENVIRONMENT, "which NPU hardware the environment has"),
    "servers.deviceModels": (ENVIRONMENT, "the device model of the environment's NPUs"),
    "servers.metricsSources": (ENVIRONMENT, "the environment's metrics scrapers (NetworkPolicy sources)"),
    "npuInventory": (ENVIRONMENT, "the environment's NPU capacity"),
    # --- policy and promotion (issues 7, 8) ---
    "release": (ENVIRONMENT, "written by `mindiectl promote` for THIS stack: where its release came from"),
    "releaseFrom": (ENVIRONMENT, "this stack's choice to read its release through a StackReference"),
}
"""setting path -> (kind, why). See the module docstring for the path syntax."""

WILDCARD = "*"

STACK_NAME_PATTERN = r"^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$"
"""A StackReference name: `stack`, `project/stack` or `org/project/stack`."""

ORDER = ("dev", "staging", "prod")
"""Promotion order of `mindie:environment` values: one stage at a time."""


class ReleaseRecord(StrictModel):
    """`mindie:release`: written by `mindiectl promote` into the target stack."""

    from_stack: StrictStr = Field(alias="fromStack", description="The stack the release was promoted from.")
    fingerprint: StrictStr = Field(
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="sha256 of the release settings at promotion (see release_fingerprint).",
    )


# --------------------------------------------------------------------------- the model's setting paths


@dataclass
class SettingNode:
    """One setting path of the Settings model (a tree mirroring the stack file)."""

    path: str
    children: dict[str, SettingNode] = field(default_factory=dict)

    def child(self, key: str) -> Optional[SettingNode]:
        return self.children.get(key) or self.children.get(WILDCARD)

    def walk(self) -> Iterator[SettingNode]:
        yield self
        for node in self.children.values():
            yield from node.walk()


def setting_tree(model: type[BaseModel]) -> SettingNode:
    """The tree of setting paths of `model` (the root Settings, stack.py), keyed as spelt in the stack file.

    Sub-models are descended into; a `dict[str, Model]` gets one `*` child; lists
    and scalars are leaves (a list is classified as a whole).
    """
    root = SettingNode("")
    _add_fields(root, model)
    return root


def _add_fields(node: SettingNode, model: type[BaseModel]) -> None:
    for name, info in model.model_fields.items():
        key = info.alias or name
        child = SettingNode(_join(node.path, key))
        node.children[key] = child
        _descend(child, info.annotation)


def _descend(node: SettingNode, annotation: Any) -> None:
    sub = _sub_model(annotation)
    if sub is not None:
        _add_fields(node, sub)
        return
    value = _dict_value(annotation)
    if value is not None and _sub_model(value) is not None:
        star = SettingNode(_join(node.path, WILDCARD))
        node.children[WILDCARD] = star
        _descend(star, value)


def _strip(annotation: Any) -> list[Any]:
    """The candidate types of an annotation: Optional/Union members, Annotated unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_strip(arg))
        return out
    return [annotation]


def _sub_model(annotation: Any) -> Optional[type[BaseModel]]:
    for candidate in _strip(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _dict_value(annotation: Any) -> Any:
    for candidate in _strip(annotation):
        if typing.get_origin(candidate) in (dict, Mapping, typing.Mapping):
            args = typing.get_args(candidate)
            if len(args) == 2:
                return args[1]
    return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --------------------------------------------------------------------------- classification lookups


def kind_of(path: str, table: Mapping[str, tuple[Kind, str]] = CLASSIFICATION) -> Optional[Kind]:
    """The kind of a setting path: its most specific classified prefix (None: unclassified)."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        entry = table.get(".".join(parts[:end]))
        if entry is not None:
            return entry[0]
    return None


def is_mixed(path: str, table: Mapping[str, tuple[Kind, str]] = CLASSIFICATION) -> bool:
    """True when entries below `path` differ from its own kind (its children must be looked at one by one)."""
    own = kind_of(path, table)
    prefix = path + "."
    return any(k.startswith(prefix) and kind != own for k, (kind, _) in table.items())


def unclassified(tree: SettingNode, table: Mapping[str, tuple[Kind, str]] = CLASSIFICATION) -> list[str]:
    """Setting paths of the model that no entry of the table covers."""
    missing = []
    for node in tree.walk():
        if node.path and kind_of(node.path, table) is None and not node.children:
            missing.append(node.path)
    return missing


def stale_entries(tree: SettingNode, table: Mapping[str, tuple[Kind, str]] = CLASSIFICATION) -> list[str]:
    """Entries of the table that name no setting of the model (typos, removed settings)."""
    paths = {node.path for node in tree.walk()}
    return sorted(k for k in table if k not in paths)


# --------------------------------------------------------------------------- splitting config data


def split(
    data: Mapping[str, Any], tree: SettingNode, table: Mapping[str, tuple[Kind, str]] = CLASSIFICATION
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a settings object (keys as in the stack file, no `mindie:`) into (release, environment).

    Keys the model (`tree`) does not know stay with the environment (validation reports them).
    """
    return _split(data, tree, table)


def _split(data: Mapping[str, Any], node: SettingNode, table) -> tuple[dict[str, Any], dict[str, Any]]:
    release: dict[str, Any] = {}
    env: dict[str, Any] = {}
    for key, value in data.items():
        child = node.child(str(key))
        if child is None:
            env[key] = value
            continue
        if is_mixed(child.path, table) and isinstance(value, Mapping):
            rel, rest = _split(value, child, table)
            if rel:
                release[key] = rel
            if rest:
                env[key] = rest
        elif kind_of(child.path, table) is Kind.RELEASE:
            release[key] = value
        else:
            env[key] = value
    return release, env


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of two settings objects (top wins on scalars)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def leaf_paths(data: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf of a nested dict (lists are leaves)."""
    if isinstance(data, Mapping) and data:
        out: list[str] = []
        for key, value in data.items():
            out.extend(leaf_paths(value, _join(prefix, str(key))))
        return out
    return [prefix] if prefix else []


# --------------------------------------------------------------------------- the release of a stack


def release_settings(settings: BaseModel) -> dict[str, Any]:
    """The release part of validated settings (defaults filled in), as the stack file spells it.

    A top-level key holding both kinds (a component with environment settings of its own, e.g.
    mindie:motor) counts only when the stack configures it: a stack that does not configure a
    component has not tested its release (dev with entry server runs no Coordinator).
    """
    dumped = settings.model_dump(by_alias=True, mode="json", exclude_none=True)
    for name, info in type(settings).model_fields.items():
        key = info.alias or name
        if is_mixed(key) and name not in settings.model_fields_set:
            dumped.pop(key, None)
    return split(dumped, setting_tree(type(settings)))[0]


def fingerprint(release: Mapping[str, Any]) -> str:
    """`sha256:<hex>` of the release settings in canonical JSON: equal releases, equal fingerprints."""
    canonical = json.dumps(integral(release), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + sha256_hex(canonical)


def release_fingerprint(settings: BaseModel) -> str:
    return fingerprint(release_settings(settings))


def part_fingerprints(settings: BaseModel) -> dict[str, str]:
    """One fingerprint per config key of the release (inferServer, motor, ...): which parts match."""
    return _parts(release_settings(settings))


def _parts(release: Mapping[str, Any]) -> dict[str, str]:
    return {key: fingerprint({key: value}) for key, value in sorted(release.items())}


def release_output(settings: Any) -> dict[str, Any]:
    """The `release` stack output: what runs here and where it came from.

    - fingerprint: of this stack's release settings (equal across stacks running the same release);
    - fromStack: the stack promoted from (`mindie:release`) or the StackReference read;
    - mode: `config` (copied by `mindiectl promote`) or `stackReference` (`mindie:releaseFrom`);
    - matchesRecord: config mode: false when release settings were edited after the promotion;
    - parts: a fingerprint per config key (which components run the same release as elsewhere);
    - settings: the release settings themselves (what a StackReference reader takes).
    """
    current = release_settings(settings)
    print_ = fingerprint(current)
    parts = _parts(current)
    record = getattr(settings, "release", None)
    reference = getattr(settings, "release_from", None)
    if reference is not None:
        return {
            "fingerprint": print_,
            "fromStack": reference,
            "mode": "stackReference",
            "matchesRecord": None,
            "parts": parts,
            "settings": current,
        }
    return {
        "fingerprint": print_,
        "fromStack": record.from_stack if record else None,
        "mode": "config",
        "matchesRecord": (record.fingerprint == print_) if record else None,
        "parts": parts,
        "settings": current,
    }


# --------------------------------------------------------------------------- StackReference mode

RELEASE_OUTPUT = "release"
"""The stack output carrying the release (read by `mindie:releaseFrom`)."""


def _supplied(key: str, referenced: Mapping[str, Any]) -> bool:
    """Whether the referenced release decides this top-level key (a component it does not configure
    is left to this stack, as `mindiectl promote` does)."""
    return key in referenced or not is_mixed(key)


def reference_problems(
    raw: Mapping[str, Any], reference: str, release: Mapping[str, Any], tree: SettingNode
) -> list[str]:
    """Release settings given locally although `mindie:releaseFrom` supplies them: ambiguous, refuse."""
    local_release, _ = split(raw, tree)
    referenced, _ = split(release, tree)
    return [
        f"mindie:{path}: a release setting, but mindie:releaseFrom = {reference!r} supplies the release; "
        "remove it from this stack (or unset releaseFrom)"
        for key, value in local_release.items()
        if _supplied(str(key), referenced)
        for path in leaf_paths({key: value})
    ]


def overlay_release(raw: Mapping[str, Any], release: Mapping[str, Any], tree: SettingNode) -> dict[str, Any]:
    """This stack's settings with the referenced release on top (release paths only)."""
    local_release, env = split(raw, tree)
    referenced, _ = split(integral(release), tree)  # only release paths, whatever the other stack exported
    kept = {k: v for k, v in local_release.items() if not _supplied(str(k), referenced)}
    return merge(merge(env, kept), referenced)


def read_referenced_release(reference: str) -> dict[str, Any]:
    """Read `release.settings` from another stack's outputs through a `pulumi.StackReference`.

    Settings must be plain values before anything is declared (components branch on
    them), so this waits for the read. A StackReference is a read of the other
    stack's last deployed outputs (the engine answers it in preview and up alike),
    not a resource this stack owns, so reading it before validation declares nothing.
    The SDK's `_sync_await` is the same mechanism its synchronous invokes use.
    """
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    from .errors import SettingsError

    ref = pulumi.StackReference(f"release-from-{reference.replace('/', '-')}", stack_name=reference)
    details = _sync_await(ref.get_output_details(RELEASE_OUTPUT))
    value = details.value if details.value is not None else details.secret_value
    if not isinstance(value, Mapping) or not isinstance(value.get("settings"), Mapping):
        raise SettingsError(
            [
                f"mindie:releaseFrom = {reference!r}: that stack has no `{RELEASE_OUTPUT}` output with "
                "release settings (has it been deployed with this program?)"
            ]
        )
    return dict(value["settings"])


# --------------------------------------------------------------------------- documentation


def markdown_table(table: Mapping[str, tuple[Kind, str]] = CLASSIFICATION) -> str:
    """The classification as a Markdown table (docs/lifecycle.md embeds it; a test compares)."""
    lines = ["| Setting | Kind | Why |", "|---|---|---|"]
    for path, (kind, why) in table.items():
        lines.append(f"| `mindie:{path}` | {kind.value} | {why} |")
    return "\n".join(lines) + "\n"


DOC_BEGIN, DOC_END = "<!-- classification:begin -->\n", "<!-- classification:end -->"


def write_doc_table(path: str = "docs/lifecycle.md") -> None:
    """Replace the table between the classification markers of docs/lifecycle.md."""
    from pathlib import Path

    doc = Path(path).read_text()
    head, rest = doc.split(DOC_BEGIN, 1)
    tail = rest.split(DOC_END, 1)[1]
    Path(path).write_text(head + DOC_BEGIN + markdown_table() + DOC_END + tail)


if __name__ == "__main__":  # python -m stacks.settings.promotion [--write]: the table of docs/lifecycle.md
    import sys

    if "--write" in sys.argv:
        write_doc_table()
    else:
        print(markdown_table(), end="")
