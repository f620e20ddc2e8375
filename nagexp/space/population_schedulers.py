"""Ray Tune's PBT and PB2, keeping each trial's identity. Their exploit step gives the weaker
trial a perturbed copy of the stronger trial's whole config, which here carries the trial's
number and seed: without this, the copy would report as the trial it copied. And a round at
a trial's last epoch is skipped: a copy made then would have nothing left to train."""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler
from ray.tune.schedulers.pb2 import PB2

from nagexp.space.sampling import TRIAL_NUMBER_KEY

__all__ = ["IDENTITY_KEYS", "OwnIdentityPB2", "OwnIdentityPBT"]

IDENTITY_KEYS = (TRIAL_NUMBER_KEY, "seed")


def _own(config: dict[str, Any], trial: Any) -> dict[str, Any]:
    return {**config, **{k: trial.config[k] for k in IDENTITY_KEYS if k in trial.config}}


def _last_epoch(result: dict[str, Any]) -> bool:
    return int(result.get("epoch", 0)) >= int(result.get("epochs_total", 2**31))


class OwnIdentityPBT(PopulationBasedTraining):
    def _get_new_config(self, trial: Any, trial_to_clone: Any) -> tuple[dict, dict]:
        config, operations = super()._get_new_config(trial, trial_to_clone)
        return _own(config, trial), operations

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if _last_epoch(result):
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)


class OwnIdentityPB2(PB2):
    def _get_new_config(self, trial: Any, trial_to_clone: Any) -> tuple[dict, dict]:
        config, operations = super()._get_new_config(trial, trial_to_clone)
        return _own(config, trial), operations

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if _last_epoch(result):
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)
