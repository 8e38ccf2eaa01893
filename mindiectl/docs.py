"""`mindiectl docs`: generate docs/config-reference.md from the settings model, and the rule table of
docs/mindie-contract.md from mindiectl/conformance.py.

The reference is never written by hand: a test fails when it differs from what
the model generates, so the documented keys, ranges and defaults are the ones
the program enforces.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .runtime import PROJECT_DIR
from .safefs import atomic_write

REFERENCE = PROJECT_DIR / "docs" / "config-reference.md"

HEADER = """# Configuration reference

Generated from `stacks/settings/stack.py` by `python -m mindiectl docs`; do not edit by hand.
Every key lives under the `mindie:` namespace of `Pulumi.<stack>.yaml`. Ranges are inclusive.
Types are strict: `"2"` is not an integer and `"yes"` is not a boolean.

| key | type | default | allowed | description |
|---|---|---|---|---|
"""


def reference() -> str:
    from stacks.settings.stack import PROJECT, Settings

    schema = Settings.model_json_schema(by_alias=True)
    rows: list[str] = []
    _walk(schema, schema, f"{PROJECT}:", rows)
    return HEADER + "\n".join(rows) + "\n"


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"].split("/")[-1]
        node = {**root["$defs"][ref], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _non_null(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(root, node)
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        merged = {**node, **_resolve(root, options[0])}
        merged.pop("anyOf", None)
        return merged
    return node


def _walk(root: dict, node: dict, prefix: str, rows: list[str]) -> None:
    node = _non_null(root, node)
    required = set(node.get("required", []))
    for key, prop in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        full = _non_null(root, prop)
        rows.append(_row(path, full, prop, key in required))
        if "properties" in full:
            _walk(root, full, path + ".", rows)
        elif isinstance(full.get("additionalProperties"), dict):
            _walk_map(root, full, path, rows)
        elif full.get("type") == "array" and "properties" in _non_null(root, full.get("items", {})):
            _walk(root, full["items"], path + "[].", rows)


def _walk_map(root: dict, node: dict, path: str, rows: list[str]) -> None:
    value = _non_null(root, node["additionalProperties"])
    if "properties" in value:
        _walk(root, value, f"{path}.<key>.", rows)


def _row(path: str, full: dict, raw: dict, required: bool) -> str:
    default = "required" if required else _fmt(raw.get("default", full.get("default")))
    description = (raw.get("description") or full.get("description") or "").replace("|", "\\|")
    return f"| `{path}` | {_type(full)} | {default} | {_allowed(full)} | {description} |"


def _type(node: dict) -> str:
    if "enum" in node:
        return "enum"
    if "properties" in node:
        return "object"
    if isinstance(node.get("additionalProperties"), dict):
        return "map"
    return str(node.get("type", "any"))


def _allowed(node: dict) -> str:
    parts = []
    if "enum" in node:
        parts.append(" \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"]))
    if "minimum" in node or "maximum" in node:
        parts.append(f"{node.get('minimum', '')} to {node.get('maximum', '')}")
    if "maxLength" in node:
        parts.append(f"at most {node['maxLength']} chars")
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    return "; ".join(parts)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"`{json.dumps(value)}`"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs")
    p.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    p.set_defaults(func=main)


CONTRACT = PROJECT_DIR / "docs" / "mindie-contract.md"
CONTRACT_BEGIN = "<!-- generated: python -m mindiectl docs (mindiectl/conformance.py) -->\n"
CONTRACT_END = "<!-- end of generated table -->\n"


def contract(current: str) -> str:
    """docs/mindie-contract.md with its rule table regenerated (the prose around it is kept)."""
    from .conformance import contract_table

    head, _, rest = current.partition(CONTRACT_BEGIN)
    _, _, tail = rest.partition(CONTRACT_END)
    return head + CONTRACT_BEGIN + contract_table() + CONTRACT_END + tail


def main(args: argparse.Namespace) -> int:
    targets = [(Path(REFERENCE), lambda _current: reference())]
    if Path(CONTRACT).exists():
        targets.append((Path(CONTRACT), contract))
    stale = []
    for path, make in targets:
        current = path.read_text() if path.exists() else ""
        text = make(current)
        if args.check:
            if current != text:
                stale.append(path.name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)  # a project file: never half-written
        print(f"wrote {path.relative_to(PROJECT_DIR)}")
    if stale:
        print(f"{', '.join(stale)} out of date: run `python -m mindiectl docs`")
        return 1
    return 0
