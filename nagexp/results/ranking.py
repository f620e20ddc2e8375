"""Which trial is best, and how many trials are in each state: the one rule every surface
asks (summary.json, best.yaml, the live view, the printed table, `nagexp ls`, the report,
MLflow's `best=true` tag).

The rule: only trials with a usable result can be best. Trials that ran every epoch
(`completed`) rank before trials ASHA stopped early (`pruned`), whose objective was taken
after fewer epochs; within each group the better final objective wins, then the lower trial
number. Diverged and errored trials never rank.

Several objectives: the Pareto front is the completed trials no other completed trial is at
least as good as in every objective and better in one (a pruned trial's values describe part
of a run: never on the front). The pick rule names the best of the front: `knee` (the least
distance to the ideal point, each objective scaled to [0, 1] over the front), `primary` (the
best primary value), or a constraint `METRIC<=VALUE` / `METRIC>=VALUE` (the best primary value
among the front trials that meet it; the knee when none does). The front ranks first, the
best of it at the top; the other trials follow by the one-objective rule. Without a completed
trial the one-objective rule decides alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from nagexp.core.errors import ConfigError
from nagexp.results.records import RUNNING, STATES, TrialState

if TYPE_CHECKING:
    from nagexp.config.space import SearchSpace

__all__ = ["PICK_RULES", "RANKED_STATES", "Ranked", "Ranking", "best_trial", "can_rank", "check_pick",
           "count_states", "finished_count", "pareto_front", "ranked_trials"]  # fmt: skip

RANKED_STATES = (TrialState.COMPLETED, TrialState.PRUNED)  # in rank order: a completed trial beats any pruned one


PICK_RULES = ("knee", "primary")  # or a constraint METRIC<=VALUE / METRIC>=VALUE
_CONSTRAINT = re.compile(r"^\s*([a-z_]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


class Ranked(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def state(self) -> TrialState: ...
    @property
    def final(self) -> float | None: ...
    @property
    def finals(self) -> Mapping[str, float]: ...


T = TypeVar("T", bound=Ranked)


@dataclass(frozen=True)
class Ranking:
    """How a sweep's trials rank: one objective (its direction), or several (the Pareto front
    and the pick rule naming its best). The primary objective comes first."""

    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    pick: str = "knee"

    @classmethod
    def of(cls, space: SearchSpace, pick: str = "knee") -> Ranking:
        return cls(tuple(o.metric for o in space.objectives), tuple(o.direction for o in space.objectives), pick)

    @classmethod
    def single(cls, mode: str) -> Ranking:
        return cls(("",), (mode,))

    @property
    def mode(self) -> str:
        return self.modes[0]

    @property
    def several(self) -> bool:
        return len(self.metrics) > 1

    def values(self, trial: Ranked) -> tuple[float, ...] | None:
        """Each objective's value at the trial's last epoch, signed so that smaller is better;
        None unless all are finite."""
        raw = [trial.final, *(trial.finals.get(m) for m in self.metrics[1:])]
        if any(v is None or not math.isfinite(v) for v in raw):
            return None
        return tuple(-float(v) if mode == "max" else float(v) for v, mode in zip(raw, self.modes, strict=True))  # type: ignore[arg-type]

    def meets_pick(self, trial: Ranked) -> bool | None:
        """Whether the trial meets the pick's constraint (METRIC<=VALUE); None for knee or primary."""
        match = _CONSTRAINT.match(self.pick)
        values = self.values(trial)
        if match is None or values is None:
            return None
        return _meets(values[self.metrics.index(match.group(1))], self, match)


def check_pick(pick: str, metrics: Sequence[str]) -> str:
    """`pick` when it is a rule for these objectives; ConfigError in one line otherwise."""
    if pick in PICK_RULES:
        return pick
    match = _CONSTRAINT.match(pick)
    if not match:
        raise ConfigError(f"--pick '{pick}': use knee, primary or a constraint such as train_seconds<=120")
    if match.group(1) not in metrics:
        raise ConfigError(f"--pick '{pick}': '{match.group(1)}' is not an objective of this sweep "
                          f"({', '.join(metrics)})")  # fmt: skip
    try:
        float(match.group(3))
    except ValueError:
        raise ConfigError(f"--pick '{pick}': '{match.group(3)}' is not a number") from None
    return pick


def can_rank(trial: Ranked) -> bool:
    """A trial with a usable result: it ran every epoch or was stopped early, with a finite objective."""
    return trial.state in RANKED_STATES and trial.final is not None and math.isfinite(trial.final)


def _by_one_objective(trials: Iterable[T], mode: str) -> list[T]:
    group = {state: i for i, state in enumerate(RANKED_STATES)}
    sign = -1.0 if mode == "max" else 1.0
    pool = [t for t in trials if can_rank(t)]
    return sorted(pool, key=lambda t: (group[t.state], sign * float(t.final or 0.0), t.number))


def pareto_front(trials: Iterable[T], ranking: Ranking) -> list[T]:
    """The completed trials no other completed trial dominates, by trial number."""
    scored = [(t, v) for t in trials if t.state == TrialState.COMPLETED and (v := ranking.values(t)) is not None]

    def dominated(v: tuple[float, ...]) -> bool:
        return any(all(a <= b for a, b in zip(w, v, strict=True)) and w != v for _, w in scored)

    return sorted((t for t, v in scored if not dominated(v)), key=lambda t: t.number)


def _picked_first(front: list[T], ranking: Ranking) -> list[T]:
    """The front in pick order: the rule's best first, then by distance to the ideal point."""
    values = {t.number: ranking.values(t) or () for t in front}
    low = [min(v[i] for v in values.values()) for i in range(len(ranking.metrics))]
    high = [max(v[i] for v in values.values()) for i in range(len(ranking.metrics))]

    def distance(t: T) -> float:
        scaled = [(x - lo) / (hi - lo) if hi > lo else 0.0 for x, lo, hi in zip(values[t.number], low, high,
                                                                               strict=True)]  # fmt: skip
        return math.sqrt(sum(x * x for x in scaled))

    by_knee = sorted(front, key=lambda t: (round(distance(t), 12), values[t.number][0], t.number))
    by_primary = sorted(front, key=lambda t: (values[t.number][0], t.number))
    if ranking.pick == "knee":
        return by_knee
    if ranking.pick == "primary":
        return by_primary
    match = _CONSTRAINT.match(ranking.pick)
    assert match is not None, ranking.pick  # checked when the sweep was resolved (check_pick)
    i = ranking.metrics.index(match.group(1))
    meets = [t for t in by_primary if _meets(values[t.number][i], ranking, match)]
    return meets + [t for t in by_knee if t not in meets] if meets else by_knee


def _meets(signed: float, ranking: Ranking, constraint: re.Match[str]) -> bool:
    """A value as `Ranking.values` gives it (smaller is better) against METRIC<=VALUE or >=."""
    metric, op, bound = constraint.group(1), constraint.group(2), float(constraint.group(3))
    raw = signed * (-1 if ranking.modes[ranking.metrics.index(metric)] == "max" else 1)
    return raw <= bound if op == "<=" else raw >= bound


def ranked_trials(trials: Iterable[T], ranking: Ranking | str) -> list[T]:
    """The trials that can be best, best first (`ranking`: a Ranking, or one objective's mode)."""
    ranking = Ranking.single(ranking) if isinstance(ranking, str) else ranking
    trials = list(trials)
    if not ranking.several:
        return _by_one_objective(trials, ranking.mode)
    front = pareto_front(trials, ranking)
    on_front = {t.number for t in front}
    rest = [t for t in _by_one_objective(trials, ranking.mode) if t.number not in on_front]
    return (_picked_first(front, ranking) if front else []) + rest


def best_trial(trials: Iterable[T], ranking: Ranking | str) -> T | None:
    ranked = ranked_trials(trials, ranking)
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
