"""Container image references: one grammar, one way to read a tag, one meaning of "pinned"."""

import re
from typing import Optional

REFERENCE = re.compile(
    r"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
"""registry[:port]/path[:tag][@sha256:digest] (full match): lower-case path components as the OCI
distribution spec wants, tags as MindIE names them (2.3.0-800I-A2-...)."""
REFERENCE_FORM = 'an image reference such as "mindie:server" or "registry/ns/mindie:2.0@sha256:..."'
MAX_REFERENCE_LENGTH = 255

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
"""A content digest (full match): what prod pins every image by."""
PINNED = re.compile(r".+@sha256:[0-9a-f]{64}")
"""A reference pinned by digest (full match): the bytes that were tested, not a tag that can move."""


def is_pinned(reference: str) -> bool:
    return PINNED.fullmatch(reference) is not None


def image_tag(reference: str) -> Optional[str]:
    """The tag of a reference ("2.3.0-..." of "registry:5000/ns/mindie:2.3.0-...@sha256:.."), if any."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def repository(reference: str) -> str:
    """registry/path/name without tag or digest ("r:5000/ns/mindie" of "r:5000/ns/mindie:2.3@sha256:..")."""
    name = reference.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
