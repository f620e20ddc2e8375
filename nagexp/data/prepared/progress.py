"""What a user sees while a dataset is prepared: rows done of the total, with a rate, every
few seconds, and a line when a part is done."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["PrepareProgress"]


class PrepareProgress:
    """`add(rows)` after each chunk of one part ("training images", "test images")."""

    EVERY = 5.0  # seconds between lines

    def __init__(self, say: Callable[[str], None], what: str, total: int | None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.say, self.what, self.total, self.clock = say, what, total, clock
        self.done = 0
        self.started = self.printed = clock()

    def add(self, rows: int) -> None:
        self.done += rows
        now = self.clock()
        if now - self.printed >= self.EVERY:
            of = f" of {self.total:,}" if self.total else ""
            self.say(f"  {self.what}: {self.done:,}{of} ({self._rate(now)})")
            self.printed = now

    def finish(self) -> None:
        now = self.clock()
        self.say(f"  {self.what}: {self.done:,} in {now - self.started:.0f} s ({self._rate(now)})")

    def _rate(self, now: float) -> str:
        return f"{self.done / max(now - self.started, 1e-9):,.0f} a second"
