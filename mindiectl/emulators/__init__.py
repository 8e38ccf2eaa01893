"""Offline emulation of what each provider computes for a resource.

Under the mock runtime nobody runs the providers, so a resource's outputs are
whatever the mock returns. An emulator computes them faithfully from the actual
inputs (a certificate from its subject and allowed uses, a Kubernetes object's
defaults, ...). Where no emulator can know a value, it leaves it out and adds a
note saying so, rather than inventing it.

Each module registers its emulators with `@emulates("<type token>")` (emulators/base.py);
importing this package imports every module, so the registry is full before any lookup.
"""

from __future__ import annotations

from . import docker, dynamic, kubernetes, tls  # noqa: F401  (each registers its emulators)
from .base import Context, Emulated, Emulator, ResourceCall, emulates, lookup

__all__ = ["Context", "Emulated", "Emulator", "ResourceCall", "emulates", "lookup"]
