"""Errors raised for user mistakes in stack settings.

`SettingsError` derives from `pulumi.RunError`, which the Pulumi language host
prints without a traceback, so `pulumi preview` shows only the message. The
offline `mindiectl` commands catch it and exit with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import pulumi


class SettingsError(pulumi.RunError):
    """One or more stack settings are invalid; the message lists each of them."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack settings:\n{lines}")


def describe_value(value: Any) -> str:
    """A short, typed rendering of a value: strings quoted so that "2" and 2 differ."""
    text = repr(value) if isinstance(value, str) else _json_like(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_like(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


def near_miss(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean "x"?)' for a misspelt key, or ''."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""
