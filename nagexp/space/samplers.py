"""Optuna samplers by name, each seeded from the sweep's master seed. Optuna is imported
only when a sampler is made, so the names can be checked without it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["SAMPLERS", "SAMPLER_NAMES", "make_sampler"]


def _quiet(factory: Callable[..., Any], **kwargs: object) -> Any:
    import optuna

    with warnings.catch_warnings():  # "experimental" notices are not news to the user
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return factory(**kwargs)


def _tpe(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed)


def _random(seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _cmaes(seed: int) -> Any:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _gp(seed: int) -> Any:
    import optuna

    return _quiet(optuna.samplers.GPSampler, seed=seed)


def _qmc(seed: int) -> Any:
    import optuna

    return _quiet(optuna.samplers.QMCSampler, seed=seed, warn_independent_sampling=False)


# CMA-ES and QMC handle floats and ints; categorical params fall back to random sampling.
SAMPLERS: dict[str, Callable[[int], Any]] = {"tpe": _tpe, "random": _random, "cmaes": _cmaes, "gp": _gp, "qmc": _qmc}
SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)


def make_sampler(name: str, seed: int) -> Any:
    """A seeded `optuna.samplers.BaseSampler`."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler '{name}'; allowed: {', '.join(SAMPLERS)}")
    return SAMPLERS[name](seed)
