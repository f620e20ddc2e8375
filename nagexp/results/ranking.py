"""Which trial is best, and how many trials are in each state: the one rule every surface
asks (summary.json, best.yaml, the live view, the printed table, `nagexp ls`, the report,
MLflow's `best=true` tag).

The rule: only trials with a usable result can be best. Trials that ran every epoch
(`completed`) rank before trials ASHA stopped early (`pruned`), whose objective was taken
after fewer epochs; within each group the better final objective wins, then the lower trial
number. Diverged and errored trials never rank.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol, TypeVar

from nagexp.results.records import RUNNING, STATES

__all__ = ["RANKED_STATES", "Ranked", "best_trial", "can_rank", "count_states", "finished_count", "ranked_trials"]

RANKED_STATES = ("completed", "pruned")  # in rank order: a completed trial beats any pruned one


class Ranked(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def final(self) -> float | None: ...


T = TypeVar("T", bound=Ranked)


def can_rank(trial: Ranked) -> bool:
    """A trial with a usable result: it ran every epoch or was stopped early, with a finite objective."""
    return trial.state in RANKED_STATES and trial.final is not None and math.isfinite(trial.final)


def ranked_trials(trials: Iterable[T], mode: str) -> list[T]:
    """The trials that can be best, best first."""
    group = {state: i for i, state in enumerate(RANKED_STATES)}
    sign = -1.0 if mode == "max" else 1.0
    pool = [t for t in trials if can_rank(t)]
    return sorted(pool, key=lambda t: (group[t.state], sign * float(t.final or 0.0), t.number))


def best_trial(trials: Iterable[T], mode: str) -> T | None:
    ranked = ranked_trials(trials, mode)
    return ranked[0] if ranked else None


def count_states(trials: Iterable[Ranked]) -> dict[str, int]:
    """Trials per state: every end state and `running`, zeros included."""
    counts = dict.fromkeys((*STATES, RUNNING), 0)
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    return counts


def finished_count(counts: dict[str, int]) -> int:
    """Trials that ended, in any way."""
    return sum(n for state, n in counts.items() if state != RUNNING)
