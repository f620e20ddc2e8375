"""How counts read in what nagexp prints: "1 trial", "2 trials"."""

from __future__ import annotations

__all__ = ["counted"]


def counted(n: float, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, plural unless n is 1 (`plural` where adding "s" is wrong); a resource's
    float amount as Ray gives it reads like an int where it is one ("1 CPU", "0.5 CPUs")."""
    number = f"{n:g}" if isinstance(n, float) else str(n)
    return f"{number} {noun if n == 1 else plural or noun + 's'}"
