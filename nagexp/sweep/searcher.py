"""OptunaSearch that tells Optuna the truth about early-stopped and diverged trials.

Plain OptunaSearch (Ray 2.60) tells a trial that ASHA stopped after one epoch as COMPLETE
with that one-epoch value, so TPE compares 1-epoch values with full-length ones. Here a
trial that ended before its last epoch without diverging is told PRUNED (Optuna keeps its
intermediate values and ranks it accordingly); a diverged trial is told COMPLETE with its
poor value when that value is finite, so the sampler learns where training breaks down.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

__all__ = ["PruningAwareOptunaSearch", "stopped_early"]


def stopped_early(result: dict[str, Any] | None) -> bool:
    """True when a trial's last result is before its final epoch and it did not diverge."""
    if not result or result.get("diverged"):
        return False
    return int(result.get("epoch", 0)) < int(result.get("epochs_total", 0))


class PruningAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_step: dict[str, int] = {}  # trial id -> last step told to Optuna

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        step = int(result.get("training_iteration", 0))
        if step <= self._last_step.get(trial_id, 0):
            return  # a retried trial replaying epochs after its last checkpoint
        super().on_trial_result(trial_id, result)
        self._last_step[trial_id] = step

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        ot_trial = self._ot_trials[trial_id]
        value = (result or {}).get(self.metric)
        # Tune hands a trial's last result only to on_trial_complete; record it as an
        # intermediate value too, so Optuna holds every epoch (ASHA-stopped ones included).
        step = (result or {}).get("training_iteration")
        if value is not None and step is not None and self._last_step.get(trial_id) != step:
            ot_trial.report(float(value), int(step))
        if not error and stopped_early(result):
            self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
        elif error or value is None or not math.isfinite(float(value)):
            self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
        else:
            self._ot_study.tell(ot_trial, float(value), state=optuna.trial.TrialState.COMPLETE)
        self._completed_trials.add(trial_id)
