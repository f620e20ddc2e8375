"""How counts read in what nagexp prints: "1 trial", "2 trials"."""

from __future__ import annotations

__all__ = ["counted"]


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, plural unless n is 1 (`plural` where adding "s" is wrong)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
