"""Ray Tune's PBT and PB2, keeping each trial's identity. Their exploit step gives the weaker
trial a perturbed copy of the stronger trial's whole config, which here carries the trial's
number and seed: without this, the copy would report as the trial it copied. A round at a
trial's last epoch is skipped: a copy made then would have nothing left to train. And their
draws (whom to copy, how to perturb) come from the scheduler's own seeded generators: Ray
draws from Python's and NumPy's global ones, which other driver code also draws from, so a
sweep would not repeat itself."""

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
    """The parts both schedulers share: identity kept, last round skipped, own generators."""

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


class OwnIdentityPBT(_Seeded, PopulationBasedTraining):
    def __init__(self, *args: Any, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seed(seed)


class OwnIdentityPB2(_Seeded, PB2):
    def __init__(self, *args: Any, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seed(seed)
