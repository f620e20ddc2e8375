"""`--epoch-budget`'s stopper: each (trial, epoch) counts once, and a budget pickled before it
kept its epochs goes on counting from where it was."""

from __future__ import annotations

import pickle

from nagexp.results.trial_report import EPOCH_KEY
from nagexp.sweeps.epoch_budget import EpochBudget


def test_each_epoch_counts_once_and_errors_not_at_all() -> None:
    budget = EpochBudget(3)
    budget("a", {EPOCH_KEY: 1})
    budget("a", {EPOCH_KEY: 2})
    budget("a", {EPOCH_KEY: 2, "done": True})  # Tune hands a finished trial's last result again
    budget("b", {"error": "its own"})  # a trial's report of its own error: no epoch
    assert budget.spent == 2 and not budget.stop_all()
    budget("b", {EPOCH_KEY: 1})
    assert budget.spent == 3 and budget.stop_all()


def test_a_budget_pickled_before_it_kept_its_epochs_goes_on_counting() -> None:
    old = EpochBudget(5)
    old.spent = 3
    del old.seen  # what an older nagexp pickled
    restored = pickle.loads(pickle.dumps(old))
    restored("c", {EPOCH_KEY: 1})
    assert restored.spent == 4 and not restored.stop_all()
    restored("c", {EPOCH_KEY: 2})
    assert restored.stop_all()
