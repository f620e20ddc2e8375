"""When the command began. A sweep's `[mm:ss]` clock and its "N trials in S s" count from
here, so the seconds spent preparing the data and starting Ray are in them."""

from __future__ import annotations

import time

__all__ = ["mark_command_start", "take_command_start"]

_started: float | None = None


def mark_command_start() -> None:
    """Called by the `nagexp` command first thing (time.monotonic() from then)."""
    global _started
    _started = time.monotonic()


def take_command_start() -> float:
    """The `nagexp` command's start, for the first sweep that asks (a command running several,
    as `compare` does, times the later ones from their own start); else now."""
    global _started
    started, _started = _started, None
    return started if started is not None else time.monotonic()
