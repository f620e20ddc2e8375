"""Ray Tune's PBT and PB2, keeping each trial's identity. Their exploit step gives the weaker
trial a perturbed copy of the stronger trial's whole config, which here carries the trial's
number and seed: without this, the copy would report as the trial it copied. A round at a
trial's last epoch is skipped: a copy made then would have nothing left to train. And their
draws (whom to copy, how to perturb) come from the scheduler's own seeded generators: Ray
draws from Python's and NumPy's global ones, which other driver code also draws from, so a
sweep would not repeat itself. And a resumed sweep's members take up the rounds where their
restored epochs are: Tune does not save the scheduler's bookkeeping, and Ray's synchronous
PBT starting afresh with members restored at different epochs could pause them all, each
waiting for a round that never came (seen: a resumed PBT test hung)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler
from ray.tune.schedulers.pb2 import PB2

from nagexp.space.sampling import TRIAL_NUMBER_KEY

__all__ = ["IDENTITY_KEYS", "OwnIdentityPB2", "OwnIdentityPBT"]

IDENTITY_KEYS = (TRIAL_NUMBER_KEY, "seed")


def _own(config: dict[str, Any], trial: Any) -> dict[str, Any]:
    return {**config, **{k: trial.config[k] for k in IDENTITY_KEYS if k in trial.config}}


def _last_epoch(result: dict[str, Any]) -> bool:
    return int(result.get("epoch", 0)) >= int(result.get("epochs_total", 2**31))


class _Seeded:
    """The parts both schedulers share: identity kept, last round skipped, own generators,
    restored members placed in the rounds."""

    def _seed(self, seed: int) -> None:
        self._own_random = random.Random(seed).getstate()
        self._own_numpy = np.random.RandomState(seed).get_state()

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
        return _own(config, trial), operations

    def _checkpoint_or_exploit(self, *args: Any) -> None:
        with self._own_generators():
            super()._checkpoint_or_exploit(*args)  # type: ignore[misc]

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if _last_epoch(result):
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
    def __init__(self, *args: Any, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seed(seed)


class OwnIdentityPB2(_Seeded, PB2):
    def __init__(self, *args: Any, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seed(seed)
