"""Offline emulation of what each provider computes for a resource.

Under the mock runtime nobody runs the providers, so a resource's outputs are
whatever the mock returns. An emulator computes them faithfully from the actual
inputs (a certificate from its subject and allowed uses, a Kubernetes object's
defaults, ...). Where no emulator can know a value, it leaves it out and adds a
note saying so, rather than inventing it.

Each module registers its emulators with `@emulates("<type token>")`; the
registry is filled by importing the modules listed in `MODULES`.
"""

from __future__ import annotations

import importlib
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

MODULES = ["kubernetes", "docker"]
"""Emulator modules under mindiectl/emulators, imported on first use."""


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
    if not _REGISTRY and not _PREFIXES:
        for module in MODULES:
            importlib.import_module(f"{__name__}.{module}")
    if type_token in _REGISTRY:
        return _REGISTRY[type_token]
    matches = [(p, fn) for p, fn in _PREFIXES if type_token.startswith(p)]
    return max(matches, key=lambda m: len(m[0]))[1] if matches else None
