"""Plain JSON-able copies of nested values (ruamel's commented containers, engine mappings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain(value: Any) -> Any:
    """Every mapping as a dict with string keys, every list or tuple as a list, deeply; scalars
    as they are (floats from the engine stay floats)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
