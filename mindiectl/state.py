"""Offline stand-in for Pulumi state: outputs of resources whose creation is not repeatable.

`pulumi up` keeps a generated private key in the stack's state and reuses it until
an input that forces replacement changes. The offline preview does the same with
a small JSON file per stack, so repeated previews of an unchanged stack give the
same keys (and the same bytes) and skip slow work such as RSA-4096 generation.

The file is written atomically (safefs.atomic_write), mode 0600 in a 0700 folder whatever
the umask. A decrypted config secret (a `secure:` value of the stack file, e.g. the root CA
key) is never stored: each occurrence is replaced by its SHA-256 digest, and put back on
load only when the stack still holds that same secret (a changed secret simply no longer
matches, as its changed inputs force a replacement anyway).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from domain.hashing import sha256_hex

from . import safefs

MAX_STATE_BYTES = 64 * 1024 * 1024
SECRET_DIGEST_KEY = "mindiectl:secretSha256"
"""{"mindiectl:secretSha256": <hex>} stands in the file for a decrypted config secret."""


class StateError(Exception):
    """The state file cannot be read (truncated, edited, not JSON, not a file)."""


def fingerprint(value: Any) -> str:
    """A stable hash of JSON-like data (the inputs that would force a replacement)."""
    return sha256_hex(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str))


def _conceal(value: Any, digests: dict[str, str]) -> Any:
    if isinstance(value, str) and value in digests:
        return {SECRET_DIGEST_KEY: digests[value]}
    if isinstance(value, dict):
        return {k: _conceal(v, digests) for k, v in value.items()}
    if isinstance(value, list):
        return [_conceal(v, digests) for v in value]
    return value


def _reveal(value: Any, plain: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {SECRET_DIGEST_KEY}:
            # the secret changed since: a placeholder that matches no input (forces a replacement)
            return plain.get(str(value[SECRET_DIGEST_KEY]), f"[secret sha256:{value[SECRET_DIGEST_KEY]}]")
        return {k: _reveal(v, plain) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v, plain) for v in value]
    return value


class StackState:
    """urn -> {"fingerprint": ..., "outputs": {...}} persisted as JSON (mode 0600)."""

    def __init__(self, path: Path | None, secrets: Iterable[str] = ()):
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._used: set[str] = set()
        # Config secrets to keep out of the file; short strings could collide with ordinary values.
        self._secrets = {sha256_hex(s): s for s in secrets if isinstance(s, str) and len(s) >= 8}
        if path is not None and (path.exists() or path.is_symlink()):
            self._entries = _reveal(self._load(path), self._secrets)

    @staticmethod
    def _load(path: Path) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(safefs.read_limited(path, MAX_STATE_BYTES, "state file").decode("utf-8"))
        except safefs.UnsafePathError as err:
            raise StateError(str(err)) from None
        except (UnicodeDecodeError, ValueError, RecursionError):
            data = None
        if not isinstance(data, dict) or not all(
            isinstance(e, dict) and "fingerprint" in e and "outputs" in e for e in data.values()
        ):
            raise StateError(
                f"{path}: not a mindiectl state file (truncated or edited); move it aside to start "
                "over (the next preview then issues new keys and certificates)"
            )
        return data

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

    def text(self) -> str:
        """The file's content: entries the last run declared, config secrets as digests."""
        kept = {urn: e for urn, e in self._entries.items() if urn in self._used}
        digests = {plain: digest for digest, plain in self._secrets.items()}
        return json.dumps(_conceal(kept, digests), indent=1, sort_keys=True)

    def save(self) -> None:
        """Write the state atomically, dropping resources the last run no longer declared."""
        if self.path is None:
            return
        safefs.make_private_dirs(self.path.parent)
        for folder in (self.path.parent, self.path.parent.parent):
            # also tightens a folder an older version created 0755 (ours: .mindie/state, .mindie)
            if folder.name in ("state", ".mindie") and folder.is_dir() and not folder.is_symlink():
                os.chmod(folder, safefs.SECRET_DIR_MODE)
        safefs.atomic_write(self.path, self.text(), mode=safefs.SECRET_FILE_MODE)
