"""The Optuna samplers the registry (`nagexp.registries.samplers`) names, each seeded from
the sweep's master seed."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from nagexp.imports import resolve_import_path
from nagexp.registries.samplers import SAMPLERS

__all__ = ["SamplerPerTrial", "make_sampler"]


def _quiet(factory: Callable[..., Any], **kwargs: object) -> Any:
    import optuna

    with warnings.catch_warnings():  # "experimental" notices are not news to the user
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return factory(**kwargs)


def tpe(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed)


def random(seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def cmaes(seed: int) -> Any:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def gp(seed: int) -> Any:
    import optuna

    return _quiet(optuna.samplers.GPSampler, seed=seed)


def qmc(seed: int) -> Any:
    import optuna

    return _quiet(optuna.samplers.QMCSampler, seed=seed, warn_independent_sampling=False)


def make_sampler(name: str, seed: int) -> Any:
    """A seeded `optuna.samplers.BaseSampler`."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler '{name}'; allowed: {', '.join(SAMPLERS)}")
    return resolve_import_path(SAMPLERS[name], "sampler")(seed)


class SamplerPerTrial:
    """A fresh sampler for each trial, seeded from the master seed and the trial's number
    (deterministic mode): what a trial is proposed depends on the seed, its number and the
    study's history, not on how many draws the sampler made before (a resumed driver's sampler
    is the one of Tune's older snapshot). Picklable: Tune saves it with the searcher."""

    def __init__(self, name: str, master_seed: int) -> None:
        self.name, self.master_seed = name, master_seed

    def __call__(self, trial_number: int) -> Any:
        from nagexp.seeds import sampler_seed

        return make_sampler(self.name, sampler_seed(self.master_seed, trial_number))
