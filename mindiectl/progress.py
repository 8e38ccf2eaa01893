"""What a long command is doing, as it goes: one line per step on standard error.

Standard output stays the command's result (tables, diffs, summaries) so it can be piped; the
steps go to standard error with the time since the command started, so a check of every stack or
a promotion with its two gates never sits silent for tens of seconds.
"""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def step(message: str) -> None:
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)
