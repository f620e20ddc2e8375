"""Successive halving on complete rungs (tested on Ray 2.60): nagexp's deterministic mode.

Ray's ASHA decides each time a trial reaches a rung, against the trials that happen to have
reached it before: the same seed gives other decisions when trials arrive in another order.
Here a trial that reaches a rung pauses until every trial of its batch has reached it (or
ended before it); then each is kept when it is among the best 1/reduction_factor of all the
values recorded at that rung so far (its own batch and every earlier one, complete by then:
see the searcher's batches), ties broken by trial number. The losers stop, the others go on.
Every decision is a function of the values alone, so it is the same however many trials run
at once, on however many nodes, and it is recomputed from the journal after a resume.

The scheduler also starts every trial itself, lowest number first, and caps how many run at
once (`max_running`): it holds each new trial as paused (Tune starts pending trials on its own,
paused ones only when the scheduler chooses them), and deterministic sweeps run without Tune's
concurrency limiter, which counts paused trials as running and would wait on a batch forever.
It stops other trials through Tune's controller (`stop_trial`), as Ray's own synchronous
HyperBand does. Both are undocumented parts of Tune's scheduler interface (TESTED).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from nagexp.integrations.ray_actor_reuse import paused_among
from nagexp.integrations.versions import Tested

__all__ = ["TESTED", "Past", "SynchronousHalving"]

TESTED = Tested("ray", "2.60", "2.61", "Tune's scheduler interface as synchronous HyperBand uses it (PAUSE, "
                "choose_trial_to_run, TuneController.stop_trial) and a trial's status read after "
                "on_trial_add")  # fmt: skip
TESTED.check()



@dataclass(frozen=True)
class Past:
    """What a trial did before the sweep was resumed: every epoch it reported, and whether it
    had ended (a trial that ended is not waited for at the rungs it never reached)."""

    epochs: list[dict[str, Any]]
    ended: bool


History = Callable[[], dict[int, Past]]  # trial number -> its past


class SynchronousHalving(FIFOScheduler):
    def __init__(self, *, metric: str, mode: str, milestones: Sequence[int], reduction_factor: float,
                 batch_size: int, total_trials: int, max_running: int, number_of: Callable[[Trial], int],
                 time_attr: str, history: History | None = None) -> None:  # fmt: skip
        super().__init__()
        self._metric, self._sign = metric, -1.0 if mode == "max" else 1.0
        self._milestones, self._factor = sorted(milestones), reduction_factor
        self._batch, self._total, self._max_running = batch_size, total_trials, max_running
        self._number_of, self._time_attr, self._history = number_of, time_attr, history
        self._values: dict[int, dict[int, float]] = {m: {} for m in self._milestones}  # rung -> number -> value
        self._trials: dict[int, Trial] = {}
        self._reached: dict[int, int] = {}  # number -> the last epoch it reported
        self._ended: set[int] = set()
        self._waiting: dict[int, int] = {}  # number -> the rung it waits at
        self._losers: set[int] = set()  # decided against while not the current trial: stopped once paused
        self._replayed = False

    # -- the rule ---------------------------------------------------------------------------------

    def _members(self, batch: int) -> range:
        return range(batch * self._batch, min((batch + 1) * self._batch, self._total))

    def _rung_complete(self, batch: int, rung: int) -> bool:
        """Every trial of the batch reported at the rung, or ended before it."""
        values = self._values[rung]
        return all(n in values or (n in self._ended and self._reached.get(n, 0) < rung) for n in self._members(batch))

    def _keeps(self, number: int, rung: int) -> bool:
        """Among the best 1/reduction_factor of the values recorded at `rung` by its batch and the
        earlier ones (a non-finite value last; ties: the lower trial number first)."""
        batch = number // self._batch
        pool = [(n, v) for n, v in self._values[rung].items() if n // self._batch <= batch]
        ranked = sorted(pool, key=lambda nv: (not math.isfinite(nv[1]), self._sign * nv[1] if math.isfinite(nv[1])
                                              else 0.0, nv[0]))  # fmt: skip
        kept = max(1, int(len(ranked) / self._factor))
        return number in {n for n, _ in ranked[:kept]}

    # -- bookkeeping ------------------------------------------------------------------------------

    def _replay(self) -> None:
        """After a resume: the values every trial reported at each rung (the journal), so the
        decisions of the dead driver are made again, the same."""
        self._replayed = True
        if self._history is None:
            return
        for number, past in self._history().items():
            if past.ended:
                self._ended.add(number)
            for metrics in past.epochs:
                epoch = int(metrics.get(self._time_attr, 0))
                self._reached[number] = max(self._reached.get(number, 0), epoch)
                if epoch in self._values and self._metric in metrics:
                    self._values[epoch][number] = float(metrics[self._metric])

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        if not self._replayed:
            self._replay()
        number = self._number_of(trial)
        self._trials[number] = trial
        if trial.status == Trial.PENDING:
            # held until chosen (Tune reads the status after this call): Tune starts pending
            # trials by itself, paused ones only when the scheduler chooses them
            trial.set_status(Trial.PAUSED)
        # restored from a checkpoint at a rung: its decision (made again, the same) comes first
        # (a trial started afresh after a resume meets its rungs again as it trains)
        last = int((trial.last_result or {}).get(self._time_attr, 0))
        if last in self._values and number not in self._ended:
            self._waiting[number] = last

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        number = self._number_of(trial)
        epoch = int(result.get(self._time_attr, 0))
        self._reached[number] = epoch
        if epoch not in self._values or self._metric not in result:
            return TrialScheduler.CONTINUE
        self._values[epoch][number] = float(result[self._metric])
        self._waiting[number] = epoch
        decision = self._settle(tune_controller, current=number)
        return decision if decision is not None else TrialScheduler.PAUSE

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        self._end(trial)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._end(trial)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._end(trial)

    def _end(self, trial: Trial) -> None:
        number = self._number_of(trial)
        self._ended.add(number)
        self._waiting.pop(number, None)

    def _settle(self, tune_controller: Any, current: int | None = None) -> str | None:
        """Decide every waiting trial whose batch completed its rung; the current trial's
        decision (None: it waits)."""
        decision = None
        for number, rung in sorted(self._waiting.items()):
            if not self._rung_complete(number // self._batch, rung):
                continue
            del self._waiting[number]
            keep = self._keeps(number, rung)
            if number == current:
                decision = TrialScheduler.CONTINUE if keep else TrialScheduler.STOP
                if not keep:
                    self._ended.add(number)
            elif not keep:
                self._ended.add(number)
                self._losers.add(number)
        return decision

    def _stop_losers(self, tune_controller: Any) -> None:
        """Stop the trials decided against, once Tune has paused them (a pause takes a while)."""
        for number in sorted(self._losers):
            trial = self._trials.get(number)
            if trial is None or trial.status in (Trial.TERMINATED, Trial.ERROR):
                self._losers.discard(number)
            elif trial.status in (Trial.PAUSED, Trial.PENDING):
                tune_controller.stop_trial(trial)
                self._losers.discard(number)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        """Every step of Tune's loop: the trial with the lowest number among those held and
        free to go (not waiting at a rung), while fewer than `max_running` run."""
        self._settle(tune_controller)
        self._stop_losers(tune_controller)
        trials = tune_controller.get_trials()
        # pending: chosen, and starting (every other trial is held paused)
        if sum(t.status in (Trial.RUNNING, Trial.PENDING) for t in trials) >= self._max_running:
            return None
        ready = [t for t in trials if t.status == Trial.PAUSED and self._number_of(t) not in self._waiting
                 and self._number_of(t) not in self._losers]  # fmt: skip
        return min(ready, key=self._number_of, default=None)

    def holds_paused_trials(self) -> bool:
        """A trial is held or waits at a rung: the search stays open, so its actors are kept."""
        return paused_among(self._trials.values())

    def debug_string(self) -> str:
        return f"SynchronousHalving: {len(self._waiting)} trials waiting at a rung"
