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

from .errors import SettingsError, describe_value, near_miss
from .fields import AbsolutePath, DnsLabel, StrictBool, StrictStr
from .infer_server import InferServer, StrictModel
from .motor import Motor, motor_problems
from .ms_server import MsServer
from .promotion import STACK_NAME_PATTERN, ReleaseRecord
from .servers import NpuInventory, ServersSettings, check_servers
from .tls import DEMO_CA_MARK, TlsSettings, plaintext_secret_problems

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


DEPLOYER_NAMESPACE = "mindie"
"""The namespace the Deployer hard-codes (deployer/infer_manager/SingleNodeServer.cpp)."""


class Settings(StrictModel):
    """All `mindie:*` stack settings. Aliases are the config keys."""

    environment: Environment = Field(
        description="Which environment this stack is: dev, staging or prod."
    )
    namespace: DnsLabel(63) = Field(  # type: ignore[valid-type]
        "mindie", description="Namespace of every namespaced object (the seed: mindie)."
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
    # --- CA chain (issue 3) ---
    tls: TlsSettings = Field(
        default_factory=TlsSettings,
        description="CA chain of the cluster-management components (root, intermediate, leaves, CRL).",
    )
    # --- ms-server Deployer (issue 4) ---
    ms_server: Optional[MsServer] = Field(
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
        check_servers(self, entry_is_server=self.entry is Entry.SERVER)
        return self

    # --- Coordinator/Controller (issue 6) ---
    motor: Motor = Field(
        default_factory=Motor,
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
        if (self.environment is not Environment.DEV and root is not None and root.is_demo()
                and not self.tls.allow_demo_root_ca):
            raise ValueError(
                f"tls.rootCa: is the repository's DEMO root CA (subject O={DEMO_CA_MARK}..., its key's "
                f"passphrase is public): refused in {self.environment.value}; set the cluster's root CA "
                "(docs/tls.md), or tls.allowDemoRootCa: true for an offline preview only"
            )
        return self


ConfigGetter = Callable[[str], Optional[str]]


def config_keys() -> list[str]:
    """Every config key the runtime was given (CLI: PULUMI_CONFIG; mocks: set_all_config)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get().keys())
    keys.update((runtime_config.get_config_env() or {}).keys())
    return sorted(keys)


def is_runtime_secret(key: str) -> bool:
    """True when the runtime was told `key` is secret (CLI: the run request's secret keys or
    PULUMI_CONFIG_SECRET_KEYS; mocks: set_all_config's secret_keys)."""
    from pulumi.runtime import config as runtime_config

    return runtime_config.is_config_secret(key) or key in runtime_config.get_config_secret_keys_env()


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
        is_secret = is_runtime_secret if get is None else (lambda key: False)
    else:
        is_secret = set(secret_keys).__contains__
    if get is None:
        from pulumi.runtime.config import get_config

        get = get_config
    keys = config_keys() if keys is None else keys
    raw, problems = _raw_values(get, keys)
    if problems:
        raise SettingsError(problems)
    if isinstance(raw.get("releaseFrom"), str):
        raw = _release_from_reference(raw, raw["releaseFrom"])
    tls_key = f"{PROJECT}:tls"
    problems = plaintext_secret_problems(raw.get("tls"), is_secret(tls_key), tls_key)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        problems += format_errors(err, Settings, prefix=f"{PROJECT}:")
    if problems:
        raise SettingsError(problems)
    return settings


def _release_from_reference(raw: dict[str, Any], reference: str) -> dict[str, Any]:
    """StackReference mode: the release settings come from another stack's `release` output."""
    import re

    from . import promotion

    if not re.match(STACK_NAME_PATTERN, reference):
        raise SettingsError([
            f"mindie:releaseFrom = {reference!r}: not a stack name: allowed `stack`, `project/stack` "
            "or `org/project/stack` (letters, digits, '-', '_', '.')"
        ])
    release = promotion.read_referenced_release(reference)
    problems = promotion.reference_problems(raw, reference, release)
    if problems:
        raise SettingsError(problems)
    return promotion.overlay_release(raw, release)


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
                hint = (f'did you mean "{PROJECT}:{match[0]}"?' if match
                        else f"the project prefix is {PROJECT}:")
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
                f"{key}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}){expected}")
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


def format_errors(err: ValidationError, model: type, prefix: str = "") -> list[str]:
    """One readable line per pydantic error: `path = value: what is allowed`."""
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
        value = "" if _hides_value(model, e["loc"]) else _value_part(e)
        lines.append(f"{prefix}{path}{value}: {_message(e, model)}")
    return lines


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


def _message(e: Mapping[str, Any], model: type) -> str:
    kind = e["type"]
    if kind == "missing":
        return "required setting is missing"
    if kind == "extra_forbidden":
        return "unknown key" + near_miss(str(e["loc"][-1]), _siblings(model, e["loc"][:-1]))
    if kind == "enum":
        return f"must be one of {e['ctx']['expected']}"
    if kind == "literal_error":
        return f"must be one of {e['ctx']['expected']}"
    if kind in ("int_type", "int_parsing"):
        if isinstance(e.get("input"), float):
            return "must be a whole number (a JSON integer)"
        if isinstance(e.get("input"), str):
            return "must be an integer (a JSON number, not a string)"
        return "must be an integer (a JSON number)"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false (a JSON boolean, not a string)"
    if kind in ("string_type",):
        if _is_percent(_field_at(model, e["loc"])):
            return 'must be a string of the form "{int}%", e.g. "25%"'
        return "must be a string"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be an object"
    msg = str(e["msg"])
    return msg.removeprefix("Value error, ")


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
        field = next(
            (f for n, f in current.model_fields.items() if part in (n, f.alias)), None
        )
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
