"""Optuna samplers by name, each seeded from the sweep's master seed."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import optuna

__all__ = ["SAMPLER_NAMES", "make_sampler"]


def _quiet(factory: Callable[..., optuna.samplers.BaseSampler], **kwargs: object) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # "experimental" notices are not news to the user
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return factory(**kwargs)


_SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    # CMA-ES and QMC handle floats and ints; categorical params fall back to random sampling.
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
    "gp": lambda seed: _quiet(optuna.samplers.GPSampler, seed=seed),
    "qmc": lambda seed: _quiet(optuna.samplers.QMCSampler, seed=seed, warn_independent_sampling=False),
}
SAMPLER_NAMES: tuple[str, ...] = tuple(_SAMPLERS)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name not in _SAMPLERS:
        raise ValueError(f"unknown sampler '{name}'; allowed: {', '.join(_SAMPLERS)}")
    return _SAMPLERS[name](seed)
