"""Ray Tune's OptunaSearch and Optuna's trials by storage id (tested on Ray 2.60 and Optuna 5.0).

`PruningAwareOptunaSearch`: an OptunaSearch that tells Optuna the truth about early-stopped
trials, and survives a restore without losing or duplicating a trial. It reads and writes
OptunaSearch's private state (`_ot_study`, `_ot_trials`, `_completed_trials`) and makes
`optuna.Trial(study, storage_id)` handles, which Optuna's API does not offer.

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

import copy
import math
from collections.abc import Callable
from typing import Any

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils.util import unflatten_dict

from nagexp.integrations.versions import Tested

__all__ = ["TESTED_OPTUNA", "TESTED_RAY", "PruningAwareOptunaSearch", "storage_id", "study_of", "trial_handle"]

TESTED_RAY = Tested("ray", "2.60", "2.61", "OptunaSearch's private study and trial bookkeeping (_ot_study, "
                    "_ot_trials, _completed_trials)")  # fmt: skip
TESTED_OPTUNA = Tested("optuna", "5.0", "5.1", "optuna.Trial(study, storage id) handles, Trial._trial_id and "
                       "FrozenTrial._trial_id")  # fmt: skip
TESTED_RAY.check()
TESTED_OPTUNA.check()

_RUNNING = optuna.trial.TrialState.RUNNING


def storage_id(trial: optuna.trial.FrozenTrial) -> int:
    """The trial's id in its storage (its number counts within the study; this, across studies)."""
    return trial._trial_id


def trial_handle(study: optuna.Study, trial_storage_id: int) -> optuna.Trial:
    """A live handle on a stored trial (to report to it or tell it), as `study.ask()` gives."""
    return optuna.Trial(study, trial_storage_id)


def study_of(searcher: OptunaSearch) -> optuna.Study:
    """The Optuna study an OptunaSearch made (or loaded from its storage)."""
    return searcher._ot_study


class _Missing(Exception):
    pass


class _StoredParams:
    """A stand-in for a trial that answers a define-by-run function from a stored trial's params,
    and raises _Missing for a param it lacks."""

    def __init__(self, trial: optuna.trial.FrozenTrial) -> None:
        self.number, self.params = trial.number, trial.params

    def _stored(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in self.params:
            raise _Missing(name)
        return self.params[name]

    suggest_float = suggest_int = suggest_categorical = _stored


class PruningAwareOptunaSearch(OptunaSearch):
    """`stopped_early(result)`: whether a trial's last result says a scheduler stopped it.
    `step_key`: the result's count of epochs (a paused and resumed trial keeps counting it).

    `batch_size` (deterministic mode): trials are asked in batches of that many, every one
    sampled at once (the define-by-run function run for each, in trial order), and the next
    batch only once no trial of the study is running: every proposal then depends on the seed
    and the results of whole earlier batches, not on which trial finished first or how many
    ran at once. Tune hears "nothing yet" meanwhile.

    `sampler_for_trial` (deterministic mode): a sampler for the trial of that number, set as the
    study's sampler before the trial is asked, so that a proposal does not depend on the draws
    made before it. A batch a killed driver had begun to ask is completed first after a resume.

    `prior_trials`: finished trials a warm start told the study before the sweep's first (not
    the sweep's own: `total_trials` counts those only). Trials Optuna holds WAITING (enqueued
    configs) are asked before any new one and count once they are asked."""

    def __init__(self, *args: Any, stopped_early: Callable[[dict[str, Any] | None], bool],
                 total_trials: int | None = None, batch_size: int | None = None, step_key: str = "epoch",
                 prior_trials: int = 0, sampler_for_trial: Callable[[int], Any] | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.stopped_early = stopped_early
        self.total_trials = total_trials
        self.batch_size = batch_size
        self.step_key = step_key
        self.prior_trials = prior_trials
        self.sampler_for_trial = sampler_for_trial
        self._own_asked: int | None = None  # the sweep's trials asked so far (read from the storage once)
        self._queue: list[tuple[optuna.Trial, dict[str, Any]]] = []  # a batch's trials not yet handed out
        self._unfinished: set[int] = set()  # storage ids of the batch's trials not yet told
        self._last_result: dict[str, dict[str, Any]] = {}  # trial id -> its last result (see complete)
        self._last_step: dict[str, int] = {}  # trial id -> last step told to Optuna
        self._closed: set[str] = set()  # trial ids whose Optuna trial the storage holds as finished
        self._orphans: list[int] = []  # storage ids of RUNNING trials no Tune trial owns
        self._orphan_steps: dict[int, int] = {}  # storage id -> the last step it told Optuna
        self._asks_left: int | None = None  # set after a restore: new trials the storage still lacks

    # -- restore ----------------------------------------------------------------------------

    def restore(self, checkpoint_path: str) -> None:
        # `restore`, not `restore_from_dir`: Tune's ConcurrencyLimiter (which wraps this searcher
        # whenever max_concurrent_trials is set) restores the searcher it wraps through it
        super().restore(checkpoint_path)
        stored = self._ot_study.get_trials(deepcopy=False)
        state_of = {storage_id(t): t.state for t in stored}
        owned = {ot._trial_id for ot in self._ot_trials.values()}
        self._closed = {tid for tid, ot in self._ot_trials.items() if state_of.get(ot._trial_id, _RUNNING) != _RUNNING}
        orphans = {storage_id(t): t for t in stored if t.state == _RUNNING and storage_id(t) not in owned}
        self._orphans = sorted(orphans)
        # the epochs an orphan told Optuna before: not told again when it trains them anew
        self._orphan_steps = {sid: max(t.intermediate_values, default=0) for sid, t in orphans.items()}
        if self.total_trials is not None:
            self._asks_left = max(0, self.total_trials - self._asked(stored))
        self._queue = []  # a batch's trials not handed out before the snapshot: orphans now, in order
        self._unfinished = {storage_id(t) for t in stored if t.state == _RUNNING}
        self._own_asked = self._asked(stored)
        if self.batch_size is not None and self._orphans:
            self._finish_interrupted_ask(orphans[self._orphans[-1]])

    def _finish_interrupted_ask(self, last: optuna.trial.FrozenTrial) -> None:
        """A driver killed while it asked a batch leaves its last trial with some params or none
        (each is a storage write). Drawn again here, all of them, by the trial's own fresh
        sampler: from the same history as then (the batch's earlier trials asked, none started,
        nothing after it), so the same values, the stored ones included. A trial holding every
        param it needs is left as it is (it may have trained)."""
        if self.sampler_for_trial is None:
            return
        probe = _StoredParams(last)
        try:
            self._space(probe)
            return
        except _Missing:
            pass
        self._ot_study.sampler = self.sampler_for_trial(last.number - getattr(self, "prior_trials", 0))
        handle = trial_handle(self._ot_study, storage_id(last))
        forgotten = copy.copy(handle._cached_frozen_trial)  # as if nothing were stored: Optuna draws every param
        forgotten.params, forgotten.distributions = {}, {}
        handle._cached_frozen_trial = forgotten
        self._suggest_from_define_by_run_func(self._space, handle)

    def suggest(self, trial_id: str) -> dict | str | None:
        if self.batch_size is not None:
            return self._suggest_in_batches(trial_id)
        if trial_id not in self._ot_trials:
            if self._orphans:  # continue a trial the dead driver had started: same number and params
                self._adopt_orphan(trial_id)
            elif self._asks_left is not None:
                if self._asks_left <= 0:
                    return Searcher.FINISHED
                self._asks_left -= 1
        return super().suggest(trial_id)

    def _asked(self, stored: list[optuna.trial.FrozenTrial]) -> int:
        """The sweep's own trials asked so far (not the prior ones, not the waiting ones)."""
        return sum(t.state != optuna.trial.TrialState.WAITING for t in stored) - getattr(self, "prior_trials", 0)

    def _adopt_orphan(self, trial_id: str) -> optuna.Trial:
        sid = self._orphans.pop(0)
        self._ot_trials[trial_id] = trial_handle(self._ot_study, sid)
        self._last_step[trial_id] = self._orphan_steps.pop(sid, 0)
        return self._ot_trials[trial_id]

    def _suggest_in_batches(self, trial_id: str) -> dict | str | None:
        if trial_id in self._ot_trials:
            return unflatten_dict(self._ot_trials[trial_id].params)
        if self._orphans:  # the dead driver's batch: its unstarted and unfinished trials, in order
            ot_trial = self._adopt_orphan(trial_id)
            return unflatten_dict(self._suggest_from_define_by_run_func(self._space, ot_trial))
        if not self._queue:
            if self._own_asked is None:
                self._own_asked = self._asked(self._ot_study.get_trials(deepcopy=False))
            asked = self._own_asked
            left = (self.total_trials if self.total_trials is not None else asked + self.batch_size) - asked
            begun = asked % self.batch_size  # a batch a killed driver had begun to ask: completed first
            if self._unfinished and (begun == 0 or left <= 0):
                return None  # the batch is still running: the next one waits for its results
            if left <= 0:
                return Searcher.FINISHED
            for number in range(asked, asked + min(self.batch_size - begun, left)):  # sampled now, in order
                if self.sampler_for_trial is not None:
                    self._ot_study.sampler = self.sampler_for_trial(number)
                ot_trial = self._ot_study.ask()
                self._own_asked += 1
                self._unfinished.add(ot_trial._trial_id)
                self._queue.append((ot_trial, self._suggest_from_define_by_run_func(self._space, ot_trial)))
        ot_trial, params = self._queue.pop(0)
        self._ot_trials[trial_id] = ot_trial
        return unflatten_dict(params)

    # -- results ------------------------------------------------------------------------------

    @property
    def _metrics(self) -> list[str]:
        """The study's objectives (several: a multi-objective study), the primary first."""
        return list(self.metric) if isinstance(self.metric, list | tuple) else [self.metric]

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        step = int(result.get(self.step_key, result.get("training_iteration", 0)))
        if self._metrics[0] not in result:
            return  # a trial reporting its own error: told as FAIL when it completes
        if trial_id in self._closed or trial_id in self._completed_trials or step <= self._last_step.get(trial_id, 0):
            return  # finished in the storage already, or a retried trial replaying epochs
        self._last_result[trial_id] = result
        if len(self._metrics) > 1:
            return  # a multi-objective study takes no intermediate values (Optuna's rule)
        try:  # at the epoch, not Tune's iteration count (Ray's own on_trial_result uses that)
            self._ot_trials[trial_id].report(float(result[self.metric]), step)
        except optuna.exceptions.UpdateFinishedTrialError:
            self._closed.add(trial_id)
        self._last_step[trial_id] = step

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        self._completed_trials.add(trial_id)
        ot_trial = self._ot_trials[trial_id]
        self._unfinished.discard(ot_trial._trial_id)
        last = self._last_result.pop(trial_id, None)
        if trial_id in self._closed:
            return  # told before the driver that ran it died
        # a paused trial a scheduler stops comes without its result (Tune's stop_trial)
        result = result if result is not None or error else last
        values = [(result or {}).get(m) for m in self._metrics]
        # Tune hands a trial's last result only to on_trial_complete; record it as an
        # intermediate value too, so Optuna holds every epoch (ASHA-stopped ones included).
        step = (result or {}).get(self.step_key, (result or {}).get("training_iteration"))
        try:
            if (len(values) == 1 and values[0] is not None and step is not None
                    and self._last_step.get(trial_id) != step):  # fmt: skip
                ot_trial.report(float(values[0]), int(step))
        except optuna.exceptions.UpdateFinishedTrialError:
            return
        if not error and self.stopped_early(result):
            state, told = optuna.trial.TrialState.PRUNED, None
        elif error or any(v is None or not math.isfinite(float(v)) for v in values):
            state, told = optuna.trial.TrialState.FAIL, None
        else:
            state, told = optuna.trial.TrialState.COMPLETE, [float(v) for v in values]  # type: ignore[arg-type]
        self._ot_study.tell(ot_trial, told if told is None or len(told) > 1 else told[0], state=state,
                            skip_if_finished=True)  # fmt: skip
