"""Offline stand-in for Pulumi state: outputs of resources whose creation is not repeatable.

`pulumi up` keeps a generated private key in the stack's state and reuses it until
an input that forces replacement changes. The offline preview does the same with
a small JSON file per stack, so repeated previews of an unchanged stack give the
same keys (and the same bytes) and skip slow work such as RSA-4096 generation.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def fingerprint(value: Any) -> str:
    """A stable hash of JSON-like data (the inputs that would force a replacement)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class StackState:
    """urn -> {"fingerprint": ..., "outputs": {...}} persisted as JSON (mode 0600)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._used: set[str] = set()
        if path is not None and path.exists():
            self._entries = json.loads(path.read_text())

    def reuse(self, urn: str, inputs: Any, create: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Stored outputs of `urn` if its replacement inputs are unchanged, else `create()`."""
        key = fingerprint(inputs)
        with self._lock:
            entry = self._entries.get(urn)
            self._used.add(urn)
            if entry is not None and entry["fingerprint"] == key:
                return entry["outputs"]
        outputs = create()
        with self._lock:
            self._entries[urn] = {"fingerprint": key, "outputs": outputs}
        return outputs

    def previous(self, urn: str) -> dict[str, Any] | None:
        """The stored entry of `urn` ({"fingerprint", "outputs", ...}), marking it used; or None.

        For emulators that decide themselves whether to keep, update or replace (the way
        the engine asks a provider's Diff), e.g. dynamic providers and certificate renewal."""
        with self._lock:
            self._used.add(urn)
            entry = self._entries.get(urn)
            return None if entry is None else dict(entry)

    def store(self, urn: str, inputs: Any, outputs: dict[str, Any], **extra: Any) -> None:
        """Record `outputs` of `urn` (after a create or update) with its inputs' fingerprint."""
        with self._lock:
            self._used.add(urn)
            self._entries[urn] = {"fingerprint": fingerprint(inputs), "outputs": outputs, **extra}

    def save(self) -> None:
        """Write the state, dropping resources the last run no longer declared."""
        if self.path is None:
            return
        kept = {urn: e for urn, e in self._entries.items() if urn in self._used}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(kept, fh, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
