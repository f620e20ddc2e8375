"""The search-efficiency benchmark's counting: epochs in report order until the first hit."""

from __future__ import annotations

import math

from benchmarks.search_efficiency import EpochTrace


def test_first_hit_and_best_within() -> None:
    trace = EpochTrace("val_acc")
    for value in (0.5, float("nan"), 0.9, 0.97, 0.99, 0.98):
        trace.on_trial_epoch(None, {"val_acc": value})
    epochs, seconds = trace.first_hit(0.97)
    assert epochs == 4 and seconds is not None and seconds >= 0
    assert trace.first_hit(0.995) == (None, None)
    assert trace.best_within(3) == 0.9  # a diverged (NaN) epoch never counts as best
    assert trace.best_within(100) == 0.99
    assert math.isnan(EpochTrace("val_acc").best_within(10))
