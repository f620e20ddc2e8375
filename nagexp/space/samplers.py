"""The Optuna samplers the registry (`nagexp.registries.samplers`) names, each seeded from
the sweep's master seed."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from nagexp.core.imports import resolve_import_path
from nagexp.registries.samplers import SAMPLERS

__all__ = ["SamplerPerTrial", "blind_trials", "make_sampler"]


def _quiet(factory: Callable[..., Any], **kwargs: object) -> Any:
    import optuna

    with warnings.catch_warnings():  # "experimental" notices are not news to the user
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return factory(**kwargs)


def startup_trials(trials: int | None) -> int:
    """TPE's random start-up trials for a sweep of `trials`: Optuna's 10, or a quarter of a
    smaller sweep (at least 4). With Optuna's 10, a 16-trial sweep is mostly random search:
    `benchmarks/search_quality` measured TPE + ASHA sharing its first 10 trials with random
    search + ASHA and choosing the same config on one seed of three."""
    return 10 if trials is None else max(4, min(10, trials // 4))


GP_STARTUP_TRIALS = 10  # GP's random start-up (Optuna's default, given explicitly so blind_trials can say it)


def blind_trials(sampler: str, trials: int) -> int:
    """How many of a sweep's first trials `sampler` proposes without using any result: TPE's
    random start-up, GP's (Optuna's 10), CMA-ES's one; all of them for random and QMC."""
    return {"tpe": startup_trials(trials), "gp": GP_STARTUP_TRIALS, "cmaes": 1}.get(sampler, trials)


def tpe(seed: int, trials: int | None = None) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials(trials))


def random(seed: int, trials: int | None = None) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def cmaes(seed: int, trials: int | None = None) -> Any:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def gp(seed: int, trials: int | None = None) -> Any:
    import optuna

    return _quiet(optuna.samplers.GPSampler, seed=seed, n_startup_trials=GP_STARTUP_TRIALS)


def qmc(seed: int, trials: int | None = None) -> Any:
    import optuna

    return _quiet(optuna.samplers.QMCSampler, seed=seed, warn_independent_sampling=False)


def make_sampler(name: str, seed: int, trials: int | None = None) -> Any:
    """A seeded `optuna.samplers.BaseSampler` for a sweep of `trials` (None: not known)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler '{name}'; allowed: {', '.join(SAMPLERS)}")
    return resolve_import_path(SAMPLERS[name], "sampler")(seed, trials)


class SamplerPerTrial:
    """A fresh sampler for each trial, seeded from the master seed and the trial's number
    (deterministic mode): what a trial is proposed depends on the seed, its number and the
    study's history, not on how many draws the sampler made before (a resumed driver's sampler
    is the one of Tune's older snapshot). Picklable: Tune saves it with the searcher."""

    trials: int | None = None  # a searcher pickled before the budget was kept reads None

    def __init__(self, name: str, master_seed: int, trials: int | None = None) -> None:
        self.name, self.master_seed, self.trials = name, master_seed, trials

    def __call__(self, trial_number: int) -> Any:
        from nagexp.core.seeds import sampler_seed

        return make_sampler(self.name, sampler_seed(self.master_seed, trial_number), self.trials)
