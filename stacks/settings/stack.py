"""The stack's settings: every `mindie:*` config key, validated before any resource exists.

`Settings` is the one place where keys, types and defaults live. `load_settings`
reads the raw config the way the Pulumi runtime hands it to a program (a map of
"mindie:<key>" to strings, objects JSON-encoded), validates all of it with
pydantic and raises one `SettingsError` naming every bad field, its value and the
allowed range. Nothing is declared before this returns.
"""

from __future__ import annotations

import difflib
import json
import typing
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, Optional

from pydantic import Field, ValidationError, model_validator

from domain.images import is_pinned

from . import promotion
from .errors import SettingsError, describe_value, near_miss
from .fields import AbsolutePath, Cidr, IntRange, Namespace, StrictBool, StrictModel, StrictStr
from .images import build_problems
from .infer_server import InferServer
from .motor import MotorSettings, motor_problems
from .ms_server import MsServerSettings
from .promotion import STACK_NAME_PATTERN, ReleaseRecord
from .release import release_problems
from .rollout import RolloutPlan
from .runtime_user import RuntimeUser
from .servers import (
    NpuInventory,
    ServerGroupSpec,
    ServersSettings,
    check_servers,
    instance_groups,
    plan_rollouts,
)
from .tls import DEMO_CA_MARK, SECRET_FIELDS, TlsSettings, plaintext_secret_problems

PROJECT = "mindie"
"""The Pulumi project name (Pulumi.yaml `name`) and so the config namespace."""


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class Entry(StrEnum):
    """Which component is the external entry: the seed's two schemes."""

    SERVER = "server"  # 方式一: the MindIE Server is reached through its NodePort
    COORDINATOR = "coordinator"  # 方式二: the Coordinator is the entry, servers stay in-cluster


class KubernetesTarget(StrictModel):
    """Where the program's Kubernetes objects go (the explicit kubernetes.Provider)."""

    render_yaml_to_directory: Optional[StrictStr] = Field(
        None,
        alias="renderYamlToDirectory",
        description="Render manifests to this directory instead of applying them (no cluster needed).",
    )
    kubeconfig: Optional[StrictStr] = Field(
        None, description="Path or contents of a kubeconfig; unset: the ambient KUBECONFIG."
    )
    context: Optional[StrictStr] = Field(None, description="kubeconfig context to use.")
    enable_server_side_apply: StrictBool = Field(
        True, alias="enableServerSideApply", description="Use server-side apply."
    )

    @model_validator(mode="after")
    def _render_or_cluster(self) -> KubernetesTarget:
        if self.render_yaml_to_directory and (self.kubeconfig or self.context):
            raise ValueError(
                "renderYamlToDirectory cannot be combined with kubeconfig/context: "
                "a stack either renders YAML or talks to a cluster"
            )
        return self


class ApiServer(StrictModel):
    """Where the pods that call the Kubernetes API (ms-server, the rank-table writer) may connect."""

    cidrs: list[Cidr] = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="The API server's endpoint addresses as CIDRs (the control-plane nodes, e.g. "
        '"192.168.10.11/32"; NetworkPolicies see the endpoint, not the kubernetes Service IP). '
        "Empty: mindie:msServer.k8s_apiserver_ip/32 when set, else any address on `ports`.",
    )
    ports: list[IntRange(1, 65535)] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [443, 6443], description="TCP ports of the API server endpoints."
    )


class NetworkSettings(StrictModel):
    """`mindie:network`: the namespace is default-deny (ingress and egress); these name the sources
    and destinations outside it."""

    entry_sources: Optional[list[Cidr]] = Field(  # type: ignore[valid-type]
        None,
        alias="entrySources",
        description="Client networks allowed to reach the entry's business port (the coordinator's "
        "predict port or the servers' infer port). Required in staging and prod; unset in dev: any source.",
    )
    api_server: ApiServer = Field(default_factory=ApiServer, alias="apiServer")


DEPLOYER_NAMESPACE = "mindie"
"""The namespace the Deployer hard-codes (deployer/infer_manager/SingleNodeServer.cpp)."""


class Settings(StrictModel):
    """All `mindie:*` stack settings. Aliases are the config keys."""

    environment: Environment = Field(description="Which environment this stack is: dev, staging or prod.")
    namespace: Namespace() = Field(  # type: ignore[valid-type]
        "mindie",
        description="Namespace of every namespaced object (the seed: mindie); not default, "
        "kube-system, kube-public, kube-node-lease or another kube-*.",
    )
    entry: Entry = Field(
        Entry.SERVER, description="External entry: server (NodePort on the servers) or coordinator."
    )
    infer_server: InferServer = Field(
        alias="inferServer", description="The seed's infer_server.json, key for key."
    )
    kubernetes: KubernetesTarget = Field(
        default_factory=KubernetesTarget,
        description="Kubernetes target of the stack. Staging and prod must name one (context, kubeconfig "
        "or renderYamlToDirectory); dev may use the ambient kubeconfig context.",
    )
    state_dir: Optional[AbsolutePath] = Field(
        None, alias="stateDir", description="Reserved for offline state; unset by default."
    )
    network: NetworkSettings = Field(
        default_factory=NetworkSettings,
        description="Default-deny NetworkPolicies: entry sources and the API server (docs/security.md).",
    )
    # --- CA chain (issue 3) ---
    tls: TlsSettings = Field(
        default_factory=TlsSettings,
        description="CA chain of the cluster-management components (root, intermediate, leaves, CRL).",
    )
    # --- the MindIE runtime user and release line (issue 12) ---
    runtime_user: RuntimeUser = Field(
        default_factory=RuntimeUser,
        alias="runtimeUser",
        description="UID/GID of every MindIE process: the derived images' user, runAsUser/runAsGroup/fsGroup "
        "of the server, Motor and ms-server pods, the owner of staged files (default 1001/1001).",
    )
    # --- ms-server Deployer (issue 4) ---
    ms_server: Optional[MsServerSettings] = Field(
        None,
        alias="msServer",
        description="The ms-server Deployer (image, ms_server.json, Deployment, RBAC); unset: not deployed.",
    )
    # --- server instance groups and NPU inventory (issue 5) ---
    servers: ServersSettings = Field(
        default_factory=ServersSettings,
        description="Server image, model source, volumes, security context, extra instance groups.",
    )
    npu_inventory: Optional[NpuInventory] = Field(
        None,
        alias="npuInventory",
        description="Declared NPU capacity per type ({nodes, chipsPerNode}); enables the deadlock check.",
    )

    @model_validator(mode="after")
    def _server_groups_consistent(self) -> Settings:
        # Raises SettingsError (not ValueError), so pydantic lets it through with its own messages.
        check_servers(
            self.infer_server,
            self.servers,
            self.motor,
            self.npu_inventory,
            entry_is_server=self.entry is Entry.SERVER,
        )
        return self

    # --- Coordinator/Controller (issue 6) ---
    motor: MotorSettings = Field(
        default_factory=MotorSettings,
        description="MindIE Motor's Coordinator and Controller (deployed when entry is coordinator).",
    )

    @model_validator(mode="after")
    def _motor_matches_entry(self) -> Settings:
        problems = motor_problems(
            self.entry is Entry.COORDINATOR, self.motor, "motor" in self.model_fields_set
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # --- policy and promotion (issues 7, 8) ---
    release: Optional[ReleaseRecord] = Field(
        None,
        description="Written by `mindiectl promote`: the stack this release came from and its fingerprint.",
    )
    release_from: Optional[StrictStr] = Field(
        None,
        alias="releaseFrom",
        pattern=STACK_NAME_PATTERN,
        description="Take the release settings from this stack's `release` output (a StackReference, "
        "`org/project/stack` or `stack`) instead of this file; see docs/lifecycle.md.",
    )

    @model_validator(mode="after")
    def _images_of_the_release_line(self) -> Settings:
        # Every MindIE image must be of the KMC-free line (stacks/settings/release.py: why, with the upstream
        # evidence); a built image must be nameable and pushable.
        problems = release_problems(self._mindie_images())
        builds = [("servers.image", self.servers.image, self.servers.image_build)]
        if self.motor.image is not None:
            builds.append(("motor.image", self.motor.image, self.motor.image_build))
        elif self.motor.image_build is not None:
            problems.append("motor.image_build: needs motor.image, the name the derived image is pushed as")
        for path, ref, build in builds:
            if build is not None:
                problems += build_problems(path, ref, build)
        if self.environment is Environment.PROD:
            # Secure by default: prod runs exactly the bytes it names, so a base it builds from is pinned.
            problems += [
                f"{path}: baseDigest is required in prod (pin the stock image: `docker buildx imagetools "
                f"inspect {build.base_image}`)"
                for path, _, build in builds
                if build is not None and build.base_digest is None
            ]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _mindie_images(self) -> dict[str, Optional[str]]:
        """Setting path -> every MindIE image reference the stack names (run, or built from)."""
        servers, motor = self.servers, self.motor
        images: dict[str, Optional[str]] = {
            "servers.image": servers.image,
            "servers.imageBuild.baseImage": servers.image_build.base_image if servers.image_build else None,
            "motor.image": motor.image,
            "motor.image_build.base_image": motor.image_build.base_image if motor.image_build else None,
            "motor.coordinator.image": motor.coordinator.image,
            "motor.controller.image": motor.controller.image,
        }
        if self.ms_server is not None:
            images["msServer.image.reference"] = self.ms_server.image.reference
        return images

    @model_validator(mode="after")
    def _supported_shape(self) -> Settings:
        if self.infer_server.server_type.value != "mindie_single_node":
            raise ValueError(
                "inferServer.server_type: this program deploys mindie_single_node only; "
                "mindie_cross_node needs msctl"
            )
        return self

    @model_validator(mode="after")
    def _deployer_contract(self) -> Settings:
        # The Deployer creates what `msctl create infer_server` asks for in namespace `mindie`, hard-coded
        # (Ascend-MindIE-Motor@28a7e9f: deployer/infer_manager/SingleNodeServer.cpp: serviceParams.nameSpace
        # = "mindie"), and refuses an infer_server whose enable_tls differs from its own client TLS switch
        # (ParseMindIEConfigParams). Both must hold wherever the ms-server is deployed.
        ms = self.ms_server
        if ms is None:
            return self
        problems = []
        if self.namespace != DEPLOYER_NAMESPACE:
            problems.append(
                f'namespace = "{self.namespace}": the ms-server (mindie:msServer) creates server objects in '
                f'namespace "{DEPLOYER_NAMESPACE}" only (SingleNodeServer.cpp); set mindie:namespace to '
                f'"{DEPLOYER_NAMESPACE}" or remove mindie:msServer'
            )
        tls = self.infer_server.mindie_server_config.enable_tls
        if ms.client_mindie_server_tls_enable is not None and ms.client_mindie_server_tls_enable != tls:
            problems.append(
                "msServer.client_mindie_server_tls_enable = "
                f"{str(ms.client_mindie_server_tls_enable).lower()}: "
                f"must equal inferServer.mindie_server_config.enable_tls ({str(tls).lower()}); the Deployer "
                "refuses any other (SingleNodeServer.cpp ParseMindIEConfigParams)"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _staging_and_prod_name_their_targets(self) -> Settings:
        # Outside dev nothing may be implicit. The self-signed stand-in root is trusted by no kube
        # API server, so a kubeclient certificate chained to it could never authenticate; and a
        # provider without a context/kubeconfig uses the ambient kubeconfig context, which may be
        # another cluster.
        if self.environment is Environment.DEV:
            return self
        env = self.environment.value
        problems = []
        if self.tls.root_ca is None:
            problems.append(
                f"tls.rootCa: required in {env}: the cluster root CA (/etc/kubernetes/pki/ca.crt as "
                "certPem, its key as secret keyPem); the self-signed stand-in is for dev only (no kube "
                "API server trusts it): pulumi config set --path 'mindie:tls.rootCa.certPem' < ca.crt; "
                "pulumi config set --secret --path 'mindie:tls.rootCa.keyPem' < ca.key"
            )
        if self.network.entry_sources is None:
            problems.append(
                f"network.entrySources: required in {env}: the client networks (CIDRs) that may reach the "
                "entry's business port; the namespace is default-deny, unset in dev means any source"
            )
        if env == "prod":
            problems += _unpinned_images(self)
        k8s = self.kubernetes
        if not (k8s.context or k8s.kubeconfig or k8s.render_yaml_to_directory):
            problems.append(
                f"kubernetes: required in {env}: an explicit target, one of kubernetes.context, "
                "kubernetes.kubeconfig or kubernetes.renderYamlToDirectory (unset, the provider would "
                "use the ambient kubeconfig context, possibly another cluster): "
                "pulumi config set --path 'mindie:kubernetes.context' <context>"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _no_demo_root_ca_outside_dev(self) -> Settings:
        # The committed staging/prod stacks carry a demo root CA whose key is encrypted under a
        # public passphrase: anyone could mint certificates it signs. A real `pulumi up` with it
        # must be a deliberate, visible choice (tls.allowDemoRootCa), never an accident.
        root = self.tls.root_ca
        if (
            self.environment is not Environment.DEV
            and root is not None
            and root.is_demo()
            and not self.tls.allow_demo_root_ca
        ):
            raise ValueError(
                f"tls.rootCa: is the repository's DEMO root CA (subject O={DEMO_CA_MARK}..., its key's "
                f"passphrase is public): refused in {self.environment.value}; set the cluster's root CA "
                "(docs/tls.md), or tls.allowDemoRootCa: true for an offline preview only"
            )
        return self


def server_groups(settings: Settings) -> list[ServerGroupSpec]:
    """Every instance group: inferServer's, then mindie:servers.extraGroups."""
    return instance_groups(settings.infer_server, settings.servers)


def rollout_plans(settings: Settings) -> list[RolloutPlan]:
    """The rollout plan of every group (validation has checked that each can run and finish)."""
    return plan_rollouts(server_groups(settings), settings.npu_inventory)


def _unpinned_images(settings: Settings) -> list[str]:
    """Every image reference prod would run that is not pinned by digest (@sha256:<64 hex>).

    A tag can be moved to other bytes after the release was tested; a digest cannot. Dev may
    use tags; prod runs exactly the digest that was promoted (policy `workload-image-digest`)."""
    found = [("servers.image", settings.servers.image)]
    motor = settings.motor
    found += [
        ("motor.image", motor.image),
        ("motor.coordinator.image", motor.coordinator.image),
        ("motor.controller.image", motor.controller.image),
        ("motor.controller.ranktable_writer.image", motor.controller.ranktable_writer.image),
    ]
    ms = settings.ms_server
    if ms is not None and ms.image.source.value == "existing":
        found.append(("msServer.image.reference", ms.image.reference))
    return [
        f"{path} = {describe_value(ref)}: prod runs images pinned by digest: append "
        "@sha256:<digest> of the image you promoted (tags may be moved)"
        for path, ref in found
        if ref is not None and not is_pinned(ref)
    ]


ConfigGetter = Callable[[str], Optional[str]]


def config_keys() -> list[str]:
    """Every config key the runtime was given (CLI: PULUMI_CONFIG; mocks: set_all_config)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get().keys())
    keys.update((runtime_config.get_config_env() or {}).keys())
    return sorted(keys)


def load_settings(
    get: Optional[ConfigGetter] = None,
    keys: Optional[list[str]] = None,
    secret_keys: Optional[Iterable[str]] = None,
) -> Settings:
    """Read and validate every `mindie:*` key; raise SettingsError listing each problem.

    `secret_keys`: the keys entered as secrets (`pulumi config set --secret`, or any value under
    them set with `--path --secret`). Reading from the runtime (no `get`), the default is what
    the runtime says; a caller passing its own `get` passes the stack file's
    (`stackfile.StackConfig.secret_keys`), else no key counts as secret.
    """
    if secret_keys is None:
        secrets = runtime_secret_keys() if get is None else set()
    else:
        secrets = set(secret_keys)
    if get is None:
        from pulumi.runtime.config import get_config

        get = get_config
        secrets |= _stack_file_secret_paths(secrets)
    keys = config_keys() if keys is None else keys
    raw, problems = _raw_values(get, keys)
    problems += misplaced_secret_problems(secrets)
    if problems:
        raise SettingsError(problems)
    if isinstance(raw.get("releaseFrom"), str):
        raw = _release_from_reference(raw, raw["releaseFrom"])
    tls_key = f"{PROJECT}:tls"
    problems = plaintext_secret_problems(raw.get("tls"), secrets, tls_key)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        problems += format_errors(err, Settings, prefix=f"{PROJECT}:", secret_paths=secrets)
    if problems:
        raise SettingsError(problems)
    return settings


def runtime_secret_keys() -> set[str]:
    """The config keys the runtime was told are secret (CLI: the run request's secret keys or
    PULUMI_CONFIG_SECRET_KEYS; mocks: set_all_config's secret_keys, which may be dotted paths)."""
    from pulumi.runtime import config as runtime_config

    told = getattr(runtime_config, "_SECRET_KEYS", None)
    keys = set(told.get()) if told is not None else set()
    return keys | set(runtime_config.get_config_secret_keys_env())


def _stack_file_secret_paths(secrets: set[str]) -> set[str]:
    """Under the Pulumi CLI the program learns only which top-level keys hold a secret; the
    stack file (Pulumi.<stack>.yaml beside the program, read as plain YAML, nothing decrypted)
    says which leaves are `secure:`, so the checks below work leaf by leaf there too."""
    if not secrets or any("." in s.partition(":")[2] for s in secrets):
        return set()  # nothing secret, or the leaves are already known (mindiectl)
    doc = _read_stack_file()
    found: set[str] = set()
    config = doc.get("config") if isinstance(doc, dict) else None
    for key, value in config.items() if isinstance(config, dict) else ():
        if str(key) in secrets:
            _collect_secure_leaves(value, str(key), found)
    return found


def _read_stack_file() -> Any:
    """The stack file beside the program as plain YAML; None when there is none to read."""
    import os

    import pulumi
    import yaml

    try:
        path = f"Pulumi.{pulumi.get_stack()}.yaml"
        if not os.path.isfile(path) or os.path.getsize(path) > 1024 * 1024:
            return None
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except Exception:  # no stack file to read: the top-level answer is all there is
        return None


def _collect_secure_leaves(value: Any, where: str, found: set[str], depth: int = 0) -> None:
    """Add to `found` the path of every `secure:` value under `value` (at most 32 levels down)."""
    if depth > 32:
        return
    if isinstance(value, dict) and set(value) == {"secure"}:
        found.add(where)
    elif isinstance(value, dict):
        for k, v in value.items():
            _collect_secure_leaves(v, f"{where}.{k}", found, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _collect_secure_leaves(v, f"{where}[{i}]", found, depth + 1)


def misplaced_secret_problems(secrets: Iterable[str]) -> list[str]:
    """A `secure:` value where the program cannot keep it secret.

    Only CA private keys and the key passphrase are handled as Pulumi secrets end to end;
    any other value (a namespace, a path, a port) is used in plain text in manifests, object
    names and stack outputs, so a secret there would leak while looking protected. Refused,
    naming the key, never the value."""
    allowed = {f"{PROJECT}:tls." + ".".join(path) for path in SECRET_FIELDS}
    problems = []
    leaves = {s for s in secrets if "." in s.partition(":")[2]}
    for key in sorted(set(secrets)):
        if not key.startswith(f"{PROJECT}:"):
            continue  # other namespaces belong to their providers
        if key in leaves:
            ok = key in allowed
        else:  # a top-level key: its leaves are checked themselves when known
            ok = key == f"{PROJECT}:tls" or any(leaf.startswith(key + ".") for leaf in leaves)
        if not ok:
            problems.append(_misplaced(key))
    return problems


def _misplaced(key: str) -> str:
    return (
        f"{key}: entered as a secret, but this setting is used in plain text (manifests, names, "
        "stack outputs) where a secret would leak; only tls.rootCa.keyPem, tls.businessCa.keyPem, "
        "tls.managementCa.keyPem and tls.keyPassphrase can be secrets: set it without --secret"
    )


def _release_from_reference(raw: dict[str, Any], reference: str) -> dict[str, Any]:
    """StackReference mode: the release settings come from another stack's `release` output."""
    import re

    if not re.fullmatch(STACK_NAME_PATTERN, reference):
        raise SettingsError(
            [
                f"mindie:releaseFrom = {describe_value(reference)}: not a stack name: allowed `stack`, "
                "`project/stack` or `org/project/stack` (letters, digits, '-', '_', '.')"
            ]
        )
    release = promotion.read_referenced_release(reference)
    tree = promotion.setting_tree(Settings)
    problems = promotion.reference_problems(raw, reference, release, tree)
    if problems:
        raise SettingsError(problems)
    return promotion.overlay_release(raw, release, tree)


def _raw_values(get: ConfigGetter, keys: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Decode each known key the way Pulumi config encodes it; report unknown keys."""
    fields = {(f.alias or n): f for n, f in Settings.model_fields.items()}
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for key in keys:
        project, _, name = key.partition(":")
        if project != PROJECT:
            # other namespaces (kubernetes:, pulumi:, ...) belong to the stack; a near-miss of
            # this project's prefix (mindei:namespace) is a typo that would silently be ignored
            if project and _edit_distance(project, PROJECT) <= 2:
                match = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
                hint = (
                    f'did you mean "{PROJECT}:{match[0]}"?' if match else f"the project prefix is {PROJECT}:"
                )
                problems.append(f"{key}: unknown setting ({hint})")
            continue
        if name not in fields:
            problems.append(f"{key}: unknown setting{near_miss(name, fields)}")
            continue
        text = get(key)
        if text is None:
            continue
        if _is_text(fields[name].annotation):
            raw[name] = text
            continue
        try:
            raw[name] = json.loads(text)
        except json.JSONDecodeError as err:
            expected = ": must be an object" if _model_of(fields[name].annotation) is not None else ""
            problems.append(
                f"{key}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}){expected}"
            )
    return raw, problems


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (a swap of two neighbours counts 1: mindei/mindie)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _is_text(annotation: Any) -> bool:
    """True when a config value of this type is taken as the raw string."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args and typing.get_origin(annotation) is not typing.Annotated:
        return all(_is_text(a) for a in args)
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    return isinstance(base, type) and issubclass(base, str)


def format_errors(
    err: ValidationError, model: type, prefix: str = "", secret_paths: Iterable[str] = ()
) -> list[str]:
    """One readable line per pydantic error: `path = value: what is allowed`.

    The value is left out when it is, contains or lies under a secret (a SecretStr field, or a
    config path in `secret_paths`)."""
    secret = set(secret_paths)
    lines = []
    for e in err.errors(include_url=False):
        if not e["loc"]:
            # A model-level rule: its message names its own keys, one problem per line.
            for line in _message(e, model).splitlines():
                lines.append(line if line.startswith(prefix) else f"{prefix}{line}")
            continue
        path = _dotted(e["loc"])
        if not path:  # a whole-model rule: its message names the fields itself
            lines.append(f"{prefix}{_message(e, model)}")
            continue
        hide = _hides_value(model, e["loc"]) or _under_secret(f"{prefix}{path}", secret)
        value = "" if hide else _value_part(e)
        lines.append(f"{prefix}{path}{value}: {_message(e, model)}")
    return lines


def _under_secret(path: str, secrets: set[str]) -> bool:
    """True when the config path is a secret, lies below one, or holds one."""
    return any(
        path == s
        or path.startswith(s + ".")
        or path.startswith(s + "[")
        or s.startswith(path + ".")
        or s.startswith(path + "[")
        for s in secrets
    )


def _dotted(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            text += ("." if text else "") + str(part)
    return text


def _value_part(e: Mapping[str, Any]) -> str:
    if e["type"] in ("missing", "extra_forbidden"):
        return ""
    return f" = {describe_value(e['input'])}"


# pydantic error types whose message does not depend on the value or the field
_FIXED_MESSAGES = {
    "missing": "required setting is missing",
    "bool_type": "must be true or false (a JSON boolean, not a string)",
    "bool_parsing": "must be true or false (a JSON boolean, not a string)",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
}


def _message(e: Mapping[str, Any], model: type) -> str:
    kind = e["type"]
    if kind in _FIXED_MESSAGES:
        return _FIXED_MESSAGES[kind]
    if kind == "extra_forbidden":
        return "unknown key" + near_miss(str(e["loc"][-1]), _siblings(model, e["loc"][:-1]))
    if kind in ("enum", "literal_error"):
        return f"must be one of {e['ctx']['expected']}"
    if kind in ("int_type", "int_parsing"):
        return _integer_message(e.get("input"))
    if kind == "string_type":
        if _is_percent(_field_at(model, e["loc"])):
            return 'must be a string of the form "{int}%", e.g. "25%"'
        return "must be a string"
    msg = str(e["msg"])
    return msg.removeprefix("Value error, ")


def _integer_message(value: Any) -> str:
    if isinstance(value, float):
        return "must be a whole number (a JSON integer)"
    if isinstance(value, str):
        return "must be an integer (a JSON number, not a string)"
    return "must be an integer (a JSON number)"


def _field_at(model: type, loc: tuple) -> Any:
    """The FieldInfo of the setting at `loc` (dict keys and list indexes skipped), or None."""
    current: Any = model
    field = None
    for part in loc:
        if isinstance(part, int) or not hasattr(current, "model_fields"):
            continue
        found = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if found is None:
            continue  # a dict key: the value's model is still `current`
        field = found
        current = _model_of(found.annotation)
    return field


def _is_percent(field: Any) -> bool:
    """True when the field is a `Percent` (or an Optional one)."""
    from .fields import _check_percent

    if field is None:
        return False

    def walk(items: Any) -> bool:
        for item in items:
            if getattr(item, "func", None) is _check_percent:
                return True
            if typing.get_args(item) and walk(typing.get_args(item)):
                return True
            if typing.get_origin(item) is typing.Annotated and walk(item.__metadata__):
                return True
        return False

    return walk([*field.metadata, field.annotation])


def _hides_value(model: type, loc: tuple) -> bool:
    """True when the value at `loc` is, or contains, a secret (SecretStr): never echo it."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not hasattr(current, "model_fields"):
            continue
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return False
        if _is_secret(field.annotation):
            return True
        current = _model_of(field.annotation)
    return current is not None and _contains_secret(current, set())


def _is_secret(annotation: Any) -> bool:
    from pydantic import SecretStr

    if annotation is SecretStr:
        return True
    return any(_is_secret(a) for a in typing.get_args(annotation))


def _contains_secret(model: Any, seen: set) -> bool:
    if model in seen or not hasattr(model, "model_fields"):
        return False
    seen.add(model)
    return any(
        _is_secret(f.annotation) or _contains_secret(_model_of(f.annotation), seen)
        for f in model.model_fields.values()
    )


def _siblings(model: type, loc: tuple) -> list[str]:
    """Field names (aliases) of the model at `loc`, for near-miss suggestions."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not hasattr(current, "model_fields"):
            return []
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        current = _model_of(field.annotation)
    if not hasattr(current, "model_fields"):
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _model_of(annotation: Any) -> Any:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
            return candidate
    return None
