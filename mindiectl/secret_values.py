"""Pulumi's secret wrapping as it travels through the mock monitor."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import rpc

REDACTED = "[secret]"


def unwrap(value: Any, path: str = "", secret_paths: list[str] | None = None) -> tuple[Any, list[str]]:
    """Strip rpc secret wrappers; return the plain value and the paths that were secret."""
    paths = [] if secret_paths is None else secret_paths
    if rpc.is_rpc_secret(value):
        paths.append(path or "$")
        inner, _ = unwrap(rpc.unwrap_rpc_secret(value), path, [])
        return inner, paths
    if isinstance(value, dict):
        return {k: unwrap(v, _join(path, k), paths)[0] for k, v in value.items()}, paths
    if isinstance(value, list):
        return [unwrap(v, f"{path}[{i}]", paths)[0] for i, v in enumerate(value)], paths
    return value, paths


def redact(value: Any, secret_paths: list[str], path: str = "", keep_shape: bool = False) -> Any:
    """A copy of `value` with every secret path replaced by REDACTED; `keep_shape` masks only
    the scalars below a secret map or list (a manifest stays schema-valid)."""
    if (path or "$") in secret_paths:
        return _mask(value) if keep_shape else REDACTED
    if isinstance(value, dict):
        return {k: redact(v, secret_paths, _join(path, k), keep_shape) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secret_paths, f"{path}[{i}]", keep_shape) for i, v in enumerate(value)]
    return value


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return REDACTED


def wrap(value: Any) -> Any:
    return rpc.wrap_rpc_secret(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
