"""`--epoch-budget`: a sweep that ends when its trials have trained so many epochs together."""

from __future__ import annotations

from typing import Any

from ray.tune import Stopper

from nagexp.results.trial_report import EPOCH_KEY

__all__ = ["EpochBudget"]


class EpochBudget(Stopper):
    """A Tune stopper: the whole experiment ends once its trials have reported `budget` epochs
    together, e.g. to search at the same cost as a population. Each (trial, epoch) counts once:
    Tune hands a finished function trial's last result to stoppers a second time (done=True).
    Pickled with the experiment, so a restored sweep goes on counting."""

    def __init__(self, budget: int) -> None:
        self.budget, self.spent = budget, 0
        self.seen: set[tuple[str, int]] = set()

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if EPOCH_KEY in result:  # not a trial's report of its own error
            seen = self.__dict__.setdefault("seen", set())  # a budget pickled before `seen` was kept
            key = (trial_id, int(result[EPOCH_KEY]))
            if key not in seen:
                seen.add(key)
                self.spent += 1
        return False

    def stop_all(self) -> bool:
        return self.spent >= self.budget
