"""Ray Tune's PBT and PB2 (tested on Ray 2.60), keeping each trial's identity. Their exploit step gives the weaker
trial a perturbed copy of the stronger trial's whole config, which here carries the trial's
number and seed: without this, the copy would report as the trial it copied. A round at a
trial's last epoch is skipped: a copy made then would have nothing left to train. And their
draws (whom to copy, how to perturb) come from the scheduler's own seeded generators: Ray
draws from Python's and NumPy's global ones, which other driver code also draws from, so a
sweep would not repeat itself. And a resumed sweep's members take up the rounds where their
restored epochs are: Tune does not save the scheduler's bookkeeping, and Ray's synchronous
PBT starting afresh with members restored at different epochs could pause them all, each
waiting for a round that never came (seen: a resumed PBT test hung). And a member copied while
the save of its own pause is still in flight is not ended an epoch after it resumes: Ray stops
such a member with a STOP queued for after that save, drops the save, and the stale STOP waited
in its controller for the member's next save (seen: a member ended at epoch 3 of 4).

All of this overrides private methods and reads private state of Ray's schedulers
(`_get_new_config`, `_checkpoint_or_exploit`, `_exploit`, `_trial_state`, ...) and of Tune's
controller (`_cached_trial_decisions`), and assumes they draw from
Python's and NumPy's global generators: tests/integrations_tests check each assumption.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler
from ray.tune.schedulers.pb2 import PB2

from nagexp.integrations.ray_actor_reuse import paused_among
from nagexp.integrations.versions import Tested

__all__ = ["TESTED", "OwnIdentityPB2", "OwnIdentityPBT"]

TESTED = Tested("ray", "2.60", "2.61", "PBT/PB2's private exploit steps and bookkeeping, their draws from Python's "
                "and NumPy's global generators (the sweep's seed may no longer decide them), and Tune's cached "
                "trial decisions (a copied member may end early)")  # fmt: skip
TESTED.check()


class _Seeded:
    """The parts both schedulers share: identity kept, last round skipped, own generators,
    restored members placed in the rounds. `identity_keys`: the config entries a member keeps
    when it copies another's config; `is_last_epoch(result)`: no round after that report."""

    def _seed(self, seed: int, identity_keys: Sequence[str], is_last_epoch: Callable[[dict], bool]) -> None:
        self._own_random = random.Random(seed).getstate()
        self._own_numpy = np.random.RandomState(seed).get_state()
        self._identity_keys = tuple(identity_keys)
        self._is_last_epoch = is_last_epoch

    @contextlib.contextmanager
    def _own_generators(self) -> Iterator[None]:
        outside_random, outside_numpy = random.getstate(), np.random.get_state()
        random.setstate(self._own_random)
        np.random.set_state(self._own_numpy)
        try:
            yield
        finally:
            self._own_random, self._own_numpy = random.getstate(), np.random.get_state()
            random.setstate(outside_random)
            np.random.set_state(outside_numpy)

    def _get_new_config(self, trial: Any, trial_to_clone: Any) -> tuple[dict, dict]:
        config, operations = super()._get_new_config(trial, trial_to_clone)  # type: ignore[misc]
        return {**config, **{k: trial.config[k] for k in self._identity_keys if k in trial.config}}, operations

    def _checkpoint_or_exploit(self, *args: Any) -> None:
        with self._own_generators():
            super()._checkpoint_or_exploit(*args)  # type: ignore[misc]

    def _exploit(self, tune_controller: Any, trial: Any, trial_to_clone: Any) -> None:
        pausing = trial.status != Trial.PAUSED
        super()._exploit(tune_controller, trial, trial_to_clone)  # type: ignore[misc]
        if pausing:  # a decision Tune kept for the member's old run (a STOP, if it was saving) is void now
            controller = getattr(tune_controller, "_tune_controller", tune_controller)  # Tune's wrapper
            getattr(controller, "_cached_trial_decisions", {}).pop(trial.trial_id, None)

    def holds_paused_trials(self) -> bool:
        """A member is paused for its round: the search stays open, so its actors are kept."""
        return paused_among(self._trial_state)  # type: ignore[attr-defined]

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if self._is_last_epoch(result):
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)  # type: ignore[misc]

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        retried = trial in self._trial_state  # type: ignore[attr-defined]  # Tune adds a retried member again
        super().on_trial_add(tune_controller, trial)  # type: ignore[misc]
        result = trial.last_result or {}
        if retried or trial.is_finished() or self._time_attr not in result or self._metric not in result:  # type: ignore[attr-defined]
            return  # a new or retried member (or one that ended before the resume)
        # a member restored by --resume: its last result as if the scheduler had seen it
        state = self._trial_state[trial]  # type: ignore[attr-defined]
        state.last_train_time = int(result[self._time_attr])  # type: ignore[attr-defined]
        state.last_score = self._metric_op * result[self._metric]  # type: ignore[attr-defined]
        state.last_result = result
        restored = self.__dict__.setdefault("_restored", {})
        restored[trial] = state.last_train_time
        # rounds up to the last boundary every restored member reached are done; the next is due
        interval = self._perturbation_interval  # type: ignore[attr-defined]
        done = interval * (min(restored.values()) // interval)
        for member in restored:
            self._trial_state[member].last_perturbation_time = done  # type: ignore[attr-defined]
        self._next_perturbation_sync = done + interval


class OwnIdentityPBT(_Seeded, PopulationBasedTraining):
    def __init__(self, *args: Any, seed: int, identity_keys: Sequence[str], is_last_epoch: Callable[[dict], bool],
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self._seed(seed, identity_keys, is_last_epoch)


class OwnIdentityPB2(_Seeded, PB2):
    def __init__(self, *args: Any, seed: int, identity_keys: Sequence[str], is_last_epoch: Callable[[dict], bool],
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self._seed(seed, identity_keys, is_last_epoch)
