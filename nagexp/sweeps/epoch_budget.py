"""`--epoch-budget`: a sweep that ends when its trials have trained so many epochs together."""

from __future__ import annotations

from typing import Any

from ray.tune import Stopper

from nagexp.results.trial_report import EPOCH_KEY

__all__ = ["EpochBudget"]


class EpochBudget(Stopper):
    """A Tune stopper: the whole experiment ends once its trials have reported `budget` epochs
    together (each result is one epoch), e.g. to search at the same cost as a population.
    Pickled with the experiment, so a restored sweep goes on counting."""

    def __init__(self, budget: int) -> None:
        self.budget, self.spent = budget, 0

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        self.spent += EPOCH_KEY in result  # not a trial's report of its own error
        return False

    def stop_all(self) -> bool:
        return self.spent >= self.budget
