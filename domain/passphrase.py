"""The seed's passphrase rule for every encrypted key: settings check a configured passphrase with
it, the CA's key-encryption provider checks what it encrypts with, the generator satisfies it."""

import string
from typing import Optional

MIN_PASSPHRASE = 8
MAX_PASSPHRASE = 256
PASSPHRASE_RULE = (
    f"{MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters on one line, with at least two of lower case, "
    "upper case, digit, special character"
)
"""The rule in words, for a message that must not describe the passphrase itself."""


def passphrase_problem(text: str) -> Optional[str]:
    """The seed's rule: at least 8 characters and at least two of lower case, upper case,
    digit, special character. None when `text` satisfies it."""
    kinds = {
        "lower case": any(c in string.ascii_lowercase for c in text),
        "upper case": any(c in string.ascii_uppercase for c in text),
        "digit": any(c in string.digits for c in text),
        "special character": any(not c.isascii() or not c.isalnum() for c in text),
    }
    if not MIN_PASSPHRASE <= len(text) <= MAX_PASSPHRASE:
        return f"too weak: must be {MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters long (has {len(text)})"
    if any(c in "\r\n\0" for c in text):
        return "must be a single line (no newline or NUL characters)"
    present = sum(kinds.values())
    if present < 2:
        return (
            f"too weak: needs at least two of lower case, upper case, digit, special character "
            f"(has only {', '.join(k for k, v in kinds.items() if v) or 'none'})"
        )
    return None
