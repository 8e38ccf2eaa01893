"""What an emulator is handed and returns, and the registry `@emulates` fills.

The emulator modules (kubernetes, docker, tls, dynamic) import this module only; the package
(mindiectl/emulators/__init__.py) imports every one of them before anything can reach `lookup`,
so the registry is full and nothing imports back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from ..state import StackState


@dataclass
class ResourceCall:
    """What the engine knows when a resource is registered (inputs already unwrapped)."""

    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    custom: bool
    provider: str = ""


@dataclass
class Context:
    """Run-wide services for emulators."""

    stack: str
    project: str
    state: StackState
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


@dataclass
class Emulated:
    """An emulator's answer: the physical id, the outputs, and outputs to mark secret."""

    id: Optional[str]
    outputs: dict[str, Any]
    secret_outputs: list[str] = field(default_factory=list)


Emulator = Callable[[ResourceCall, Context], Emulated]

_REGISTRY: dict[str, Emulator] = {}
_PREFIXES: list[tuple[str, Emulator]] = []


def emulates(type_token: str) -> Callable[[Emulator], Emulator]:
    """Register an emulator for a type token; a token ending in '*' is a prefix."""

    def register(fn: Emulator) -> Emulator:
        if type_token.endswith("*"):
            _PREFIXES.append((type_token[:-1], fn))
        else:
            _REGISTRY[type_token] = fn
        return fn

    return register


def lookup(type_token: str) -> Optional[Emulator]:
    """The emulator of a type token: its own, else the one of its longest registered prefix."""
    if type_token in _REGISTRY:
        return _REGISTRY[type_token]
    matches = [(p, fn) for p, fn in _PREFIXES if type_token.startswith(p)]
    return max(matches, key=lambda m: len(m[0]))[1] if matches else None
