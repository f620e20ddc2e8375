"""Time-to-target profiles in the style of AlgoPerf: for each arm, the share of seeds (or
problems) on which it reached a target within tau times the epochs of the arm that reached it
first there. `nagexp compare`'s report and the search_quality benchmark draw the same rule."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["TAUS", "common_target", "epochs_to_target", "performance_profile"]

TAUS = (1.0, 1.25, 1.5, 2.0, 3.0, 4.0)


def epochs_to_target(curve: Sequence[float], target: float, mode: str) -> int | None:
    """Epochs (1-based) until `curve` first reaches `target`; None when it never does."""
    for epoch, value in enumerate(curve, start=1):
        if math.isfinite(value) and (value >= target if mode == "max" else value <= target):
            return epoch
    return None


def common_target(curves: dict[str, list[list[float]]], mode: str) -> float | None:
    """The value every arm reaches on average at its end: the worst arm's mean final value
    (over its finite finals; None when no arm has one)."""
    finals = [[c[-1] for c in cs if c and math.isfinite(c[-1])] for cs in curves.values()]
    means = [sum(f) / len(f) for f in finals if f]
    if not means:
        return None
    return min(means) if mode == "max" else max(means)


def performance_profile(hits: dict[str, list[int | None]], taus: Sequence[float] = TAUS) -> dict[str, list[float]]:
    """arm -> for each tau, the share of seeds on which the arm reached the target within tau x
    the epochs of the seed's fastest arm (`hits[arm][seed]`: epochs to target, None: never;
    every arm has the same seeds)."""
    seeds = len(next(iter(hits.values()), []))
    fastest = [min((h[s] for h in hits.values() if h[s] is not None), default=None) for s in range(seeds)]
    return {arm: [sum(1 for s in range(seeds) if h[s] is not None and fastest[s] is not None
                      and h[s] <= tau * fastest[s]) / seeds if seeds else 0.0 for tau in taus]
            for arm, h in hits.items()}  # fmt: skip
