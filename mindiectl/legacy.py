"""`mindiectl import` / `export`: move between infer_server.json and stack config.

import validates an existing msctl file and writes it under `mindie:inferServer`
in Pulumi.<stack>.yaml, keeping every other key and comment; on any error
nothing is written. export prints the infer_server.json equivalent of a stack.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from stacks.settings.errors import SettingsError
from stacks.settings.infer_server import InferServer
from stacks.settings.stack import PROJECT, Environment, format_errors, load_settings

from . import safefs, stackfile
from .stack_run import locked, run_or_exit

KEY = f"{PROJECT}:inferServer"


MAX_FILE_BYTES = 1024 * 1024
"""An infer_server.json is a few hundred bytes; anything near this limit is not one."""
MAX_NUMBER_DIGITS = 20
MAX_DEPTH = 32


def _number(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number of {len(text)} digits (at most {MAX_NUMBER_DIGITS})")
    return int(text)


def _depth(value: object, limit: int = MAX_DEPTH) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, depth + 1) for c in children)
    return deepest


def parse_infer_server(path: Path) -> InferServer:
    """Read and validate an infer_server.json; SettingsError with line/column on bad JSON.

    A regular UTF-8 file of at most MAX_FILE_BYTES (no FIFO, no /dev/zero); numbers of at
    most MAX_NUMBER_DIGITS digits; nesting at most MAX_DEPTH."""
    try:
        raw = safefs.read_limited(path, MAX_FILE_BYTES, "infer_server.json")
    except safefs.UnsafePathError as err:
        raise SettingsError([str(err)]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        hint = " (UTF-16? save it as UTF-8)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise SettingsError([f"{path.name}: not UTF-8 text (byte {err.start}){hint}"]) from None
    try:
        data = json.loads(text, parse_int=_number)
    except json.JSONDecodeError as err:
        raise SettingsError(
            [f"{path.name}: JSON syntax error at line {err.lineno} column {err.colno}: {err.msg}"]
        ) from None
    except RecursionError:
        raise SettingsError([f"{path.name}: nested too deeply (at most {MAX_DEPTH} levels)"]) from None
    except ValueError as err:
        raise SettingsError([f"{path.name}: {str(err)[:120]}"]) from None
    if _depth(data) > MAX_DEPTH:
        raise SettingsError([f"{path.name}: nested too deeply (at most {MAX_DEPTH} levels)"])
    try:
        return InferServer.model_validate(data)
    except ValidationError as err:
        raise SettingsError(format_errors(err, InferServer, prefix=f"{KEY}.")) from None


def to_json_dict(server: InferServer) -> dict:
    """The infer_server.json content, keys in the seed's order, unset optionals left out."""
    return server.model_dump(mode="json", exclude_none=True)


def import_file(source: Path, stack: str, environment: str | None, project_dir: Path | None = None) -> Path:
    if environment is not None:
        _environment_for(stack, environment)  # a bad --environment is an error even for an existing stack
    server = parse_infer_server(source)
    path = stackfile.stack_path(stack, project_dir)
    with locked(stack, project_dir):
        return _write_import(path, stack, environment, server)


def _write_import(path: Path, stack: str, environment: str | None, server: InferServer) -> Path:
    doc = stackfile.read_document(path)
    if doc.get("config") is None:
        doc["config"] = {}
    config = doc["config"]
    env_key = f"{PROJECT}:environment"
    if env_key not in config:
        config[env_key] = _environment_for(stack, environment)
    value = to_json_dict(server)
    if KEY in config:
        # key by key into the existing mapping: its comments (inline units, the next key's
        # comment lines, which ruamel keeps on the last key) stay where they are
        stackfile.mirror({KEY: value}, config, KEY)
    else:
        config[KEY] = value
    # The whole stack must still be valid with the new value before anything is written
    # (secure values decrypted as for `pulumi up`: a stack with secrets needs its passphrase).
    encoded = stackfile.config_of(path, doc)
    load_settings(encoded.config.get, list(encoded.config), encoded.secrets)
    stackfile.write_document(path, doc)
    return path


def _environment_for(stack: str, environment: str | None) -> str:
    allowed = [e.value for e in Environment]
    if environment is not None:
        if environment not in allowed:
            raise SettingsError(
                [
                    f"--environment {environment!r}: not one of {', '.join(allowed)} "
                    f"(the {PROJECT}:environment of stack {stack!r}; lower case)"
                ]
            )
        return environment
    if stack not in allowed:
        raise SettingsError(
            [f"{PROJECT}:environment: new stack {stack!r} needs --environment (one of {', '.join(allowed)})"]
        )
    return stack


def export_stack(stack: str, project_dir: Path | None = None) -> str:
    """infer_server.json of a stack. A `secure:` value under mindie:inferServer is never
    printed: the settings refuse a secret there (it would land in plain manifests), and export
    checks again here, naming the key."""
    cfg = stackfile.load(stack, project_dir)
    hidden = [p for p in cfg.secret_paths if p == KEY or p.startswith(KEY + ".")]
    if hidden:
        raise SettingsError([f"{p}: is a secret; export does not print secrets" for p in hidden])
    settings = load_settings(cfg.config.get, list(cfg.config), cfg.secrets)
    return json.dumps(to_json_dict(settings.infer_server), indent=4) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import")
    p.add_argument("file", type=Path, help="path of infer_server.json")
    p.add_argument("--stack", required=True, help="stack to write (Pulumi.<stack>.yaml, created if missing)")
    p.add_argument(
        "--environment",
        help="environment of a new stack file: dev, staging or prod (default: the stack name)",
    )
    p.set_defaults(func=_import_main)
    e = sub.add_parser("export")
    e.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    e.set_defaults(func=_export_main)


@run_or_exit
def _import_main(args: argparse.Namespace) -> int:
    path = import_file(args.file, args.stack, args.environment)
    print(f"imported {args.file} into {path.name} under {KEY}")
    return 0


@run_or_exit
def _export_main(args: argparse.Namespace) -> int:
    sys.stdout.write(export_stack(args.stack))
    return 0
