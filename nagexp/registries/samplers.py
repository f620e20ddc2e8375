"""Optuna samplers by name: import paths of `factory(seed, trials) -> optuna.samplers.BaseSampler`
(see `nagexp.space.samplers`; `trials` is the sweep's trial budget, or None). CMA-ES and QMC
handle floats and ints; categorical params fall back to random sampling."""

from __future__ import annotations

__all__ = ["SAMPLERS", "SAMPLER_NAMES"]

_AT = "nagexp.space.samplers"
SAMPLERS: dict[str, str] = {
    "tpe": f"{_AT}:tpe",
    "random": f"{_AT}:random",
    "cmaes": f"{_AT}:cmaes",
    "gp": f"{_AT}:gp",
    "qmc": f"{_AT}:qmc",
}
SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)
