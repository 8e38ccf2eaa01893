"""JSON numbers that went through the Pulumi engine."""

from collections.abc import Mapping
from typing import Any


def integral(value: Any) -> Any:
    """Numbers round-trip through the engine (and StackReference outputs) as floats: 3.0 -> 3, deeply."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value
