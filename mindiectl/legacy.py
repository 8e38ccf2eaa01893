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

from stacks.errors import SettingsError
from stacks.infer_server import InferServer
from stacks.settings import PROJECT, Environment, format_errors, load_settings

from . import stackfile

KEY = f"{PROJECT}:inferServer"


def parse_infer_server(path: Path) -> InferServer:
    """Read and validate an infer_server.json; SettingsError with line/column on bad JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SettingsError([f"{path}: cannot read ({err.strerror})"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SettingsError(
            [f"{path.name}: JSON syntax error at line {err.lineno} column {err.colno}: {err.msg}"]
        ) from None
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
    load_settings(encoded.config.get, list(encoded.config), encoded.secret_keys)
    stackfile.write_document(path, doc)
    return path


def _environment_for(stack: str, environment: str | None) -> str:
    allowed = [e.value for e in Environment]
    if environment is not None:
        if environment not in allowed:
            raise SettingsError([
                f"--environment {environment!r}: not one of {', '.join(allowed)} "
                f"(the {PROJECT}:environment of stack {stack!r}; lower case)"
            ])
        return environment
    if stack not in allowed:
        raise SettingsError(
            [f"{PROJECT}:environment: new stack {stack!r} needs --environment (one of {', '.join(allowed)})"]
        )
    return stack


def export_stack(stack: str, project_dir: Path | None = None) -> str:
    cfg = stackfile.load(stack, project_dir)
    settings = load_settings(cfg.config.get, list(cfg.config), cfg.secret_keys)
    return json.dumps(to_json_dict(settings.infer_server), indent=4) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import")
    p.add_argument("file", type=Path, help="path of infer_server.json")
    p.add_argument("--stack", required=True, help="stack to write (Pulumi.<stack>.yaml, created if missing)")
    p.add_argument("--environment",
                   help="environment of a new stack file: dev, staging or prod (default: the stack name)")
    p.set_defaults(func=_import_main)
    e = sub.add_parser("export")
    e.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    e.set_defaults(func=_export_main)


def _import_main(args: argparse.Namespace) -> int:
    try:
        path = import_file(args.file, args.stack, args.environment)
    except (SettingsError, stackfile.StackFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"imported {args.file} into {path.name} under {KEY}")
    return 0


def _export_main(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(export_stack(args.stack))
    except (SettingsError, stackfile.StackFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
