"""OptunaSearch that tells Optuna the truth about early-stopped trials, and survives a
restore without losing or duplicating a trial.

Plain OptunaSearch (Ray 2.60) tells a trial that ASHA stopped after one epoch as COMPLETE
with that one-epoch value, so TPE compares 1-epoch values with full-length ones. Here a
trial that ended before its last epoch without diverging is told PRUNED (Optuna keeps its
intermediate values and ranks it accordingly); a diverged trial is told COMPLETE with its
poor value when that value is finite, so the sampler learns where training breaks down.

On `Tuner.restore` the searcher comes back from Tune's last experiment snapshot, which can
be older than the Optuna storage (a driver killed between snapshots). The storage is the
truth: trials it holds as finished are never told again, trials it holds as RUNNING that
the snapshot never saw (orphans of the dead driver) are handed to the next new Tune trials
(same number, same params, same seed), and no more trials are asked than the sweep's total.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

__all__ = ["PruningAwareOptunaSearch", "stopped_early"]

_RUNNING = optuna.trial.TrialState.RUNNING


def stopped_early(result: dict[str, Any] | None) -> bool:
    """True when a trial's last result is before its final epoch and it did not diverge."""
    if not result or result.get("diverged"):
        return False
    return int(result.get("epoch", 0)) < int(result.get("epochs_total", 0))


class PruningAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args: Any, total_trials: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.total_trials = total_trials
        self._last_step: dict[str, int] = {}  # trial id -> last step told to Optuna
        self._closed: set[str] = set()  # trial ids whose Optuna trial the storage holds as finished
        self._orphans: list[int] = []  # storage ids of RUNNING trials no Tune trial owns
        self._asks_left: int | None = None  # set after a restore: new trials the storage still lacks

    # -- restore ----------------------------------------------------------------------------

    def restore(self, checkpoint_path: str) -> None:
        # `restore`, not `restore_from_dir`: Tune's ConcurrencyLimiter (which wraps this searcher
        # whenever max_concurrent_trials is set) restores the searcher it wraps through it
        super().restore(checkpoint_path)
        stored = self._ot_study.get_trials(deepcopy=False)
        state_of = {t._trial_id: t.state for t in stored}
        owned = {ot._trial_id for ot in self._ot_trials.values()}
        self._closed = {tid for tid, ot in self._ot_trials.items() if state_of.get(ot._trial_id, _RUNNING) != _RUNNING}
        self._orphans = sorted(t._trial_id for t in stored if t.state == _RUNNING and t._trial_id not in owned)
        if self.total_trials is not None:
            self._asks_left = max(0, self.total_trials - len(stored))

    def suggest(self, trial_id: str) -> dict | str | None:
        if trial_id not in self._ot_trials:
            if self._orphans:  # continue a trial the dead driver had started: same number and params
                self._ot_trials[trial_id] = optuna.Trial(self._ot_study, self._orphans.pop(0))
            elif self._asks_left is not None:
                if self._asks_left <= 0:
                    return Searcher.FINISHED
                self._asks_left -= 1
        return super().suggest(trial_id)

    # -- results ------------------------------------------------------------------------------

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        step = int(result.get("training_iteration", 0))
        if self.metric not in result:
            return  # a trial reporting its own error: told as FAIL when it completes
        if trial_id in self._closed or step <= self._last_step.get(trial_id, 0):
            return  # finished in the storage already, or a retried trial replaying epochs
        try:
            super().on_trial_result(trial_id, result)
        except optuna.exceptions.UpdateFinishedTrialError:
            self._closed.add(trial_id)
        self._last_step[trial_id] = step

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        self._completed_trials.add(trial_id)
        if trial_id in self._closed:
            return  # told before the driver that ran it died
        ot_trial = self._ot_trials[trial_id]
        value = (result or {}).get(self.metric)
        # Tune hands a trial's last result only to on_trial_complete; record it as an
        # intermediate value too, so Optuna holds every epoch (ASHA-stopped ones included).
        step = (result or {}).get("training_iteration")
        try:
            if value is not None and step is not None and self._last_step.get(trial_id) != step:
                ot_trial.report(float(value), int(step))
        except optuna.exceptions.UpdateFinishedTrialError:
            return
        if not error and stopped_early(result):
            state, values = optuna.trial.TrialState.PRUNED, None
        elif error or value is None or not math.isfinite(float(value)):
            state, values = optuna.trial.TrialState.FAIL, None
        else:
            state, values = optuna.trial.TrialState.COMPLETE, float(value)
        self._ot_study.tell(ot_trial, values, state=state, skip_if_finished=True)
