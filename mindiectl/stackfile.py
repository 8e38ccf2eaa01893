"""Read and edit `Pulumi.<stack>.yaml` the way the Pulumi CLI does.

The CLI hands a program its config as strings: scalars as text, objects and
lists JSON-encoded. `load` does the same, so the mock run sees exactly what a
`pulumi up` would. Editing (`mindiectl import`, `promote`) goes through
ruamel.yaml in round-trip mode so that comments and key order survive.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from .runtime import PROJECT_DIR


class StackFileError(Exception):
    """A stack file that cannot be read (missing, not YAML, undecryptable secret)."""


@dataclass
class StackConfig:
    stack: str
    path: Path
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)


def stack_dir() -> Path:
    """Where the Pulumi.<stack>.yaml files are: $MINDIE_STACK_DIR, else the project."""
    return Path(os.environ.get("MINDIE_STACK_DIR") or PROJECT_DIR)


def stack_path(stack: str, project_dir: Path | None = None) -> Path:
    return (project_dir or stack_dir()) / f"Pulumi.{stack}.yaml"


def round_trip_yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def read_document(path: Path) -> Any:
    """The stack file as a round-trip document (comments kept); {} when absent."""
    if not path.exists():
        return round_trip_yaml().load("config: {}\n")
    try:
        doc = round_trip_yaml().load(path.read_text())
    except Exception as err:  # ruamel raises many error types; all mean "not YAML"
        raise StackFileError(f"{path.name}: not valid YAML: {err}") from None
    return doc if doc is not None else round_trip_yaml().load("config: {}\n")


def write_document(path: Path, doc: Any) -> None:
    buf = io.StringIO()
    round_trip_yaml().dump(doc, buf)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def load(stack: str, project_dir: Path | None = None) -> StackConfig:
    """The stack's config as the Pulumi CLI would pass it to the program."""
    path = stack_path(stack, project_dir)
    if not path.exists():
        raise StackFileError(f"no stack file {path.name} (stacks: {', '.join(list_stacks(project_dir))})")
    doc = read_document(path)
    result = StackConfig(stack=stack, path=path)
    for key, value in (doc.get("config") or {}).items():
        key = str(key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            result.config[key] = decrypt_secure(path, doc, key, str(value["secure"]))
            result.secret_keys.append(key)
        else:
            result.config[key] = encode_value(value)
    return result


def encode_value(value: Any) -> str:
    """A config value as the CLI encodes it for the program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(_plain(value))


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dict/list (for JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def decrypt_secure(path: Path, doc: Any, key: str, ciphertext: str) -> str:
    """Decrypt a `secure:` value; the CA issue adds the passphrase secrets provider."""
    raise StackFileError(
        f"{path.name}: {key} is a secret encrypted by the Pulumi CLI; "
        "offline decryption is not available"
    )


def list_stacks(project_dir: Path | None = None) -> list[str]:
    folder = project_dir or stack_dir()
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))
