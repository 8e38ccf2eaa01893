"""The sha256 digests behind `checksum/*` annotations and release fingerprints.

A digest changes exactly when what it covers changes: that is what rolls the pods on a config change.
"""

import hashlib
from collections.abc import Iterable, Mapping


def sha256_hex(text: str) -> str:
    """Hex sha256 of one UTF-8 text."""
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_of_parts(parts: Iterable[str]) -> str:
    """Hex sha256 over texts, each followed by NUL: ("ab", "c") and ("a", "bc") differ."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def sha256_of_files(files: Mapping[str, str]) -> str:
    """Hex sha256 over file names and contents, in name order (a rename changes it too)."""
    return sha256_of_parts(text for name in sorted(files) for text in (name, files[name]))
