"""Learning-rate and momentum schedules by name or import path: one registry, the built-ins
registered by import path (pure functions `fn(step, total_steps, cfg) -> float`, see
`nagexp.training.schedules`), so a schedule of the user's takes the same path.

A schedule of the user's is `package.module:fn` with `fn(step, total_steps, **args) -> float`:
a pure function giving the value itself at optimizer step `step` (0 to total_steps - 1). `args`
are the config's `lr_schedule_args` (`momentum_schedule_args`), and `peak`, the config's `lr`
(`momentum`), when fn has a parameter of that name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from nagexp.core.errors import ConfigError
from nagexp.core.imports import is_import_path, resolve_import_path

__all__ = ["LR_SCHEDULES", "LR_SCHEDULE_NAMES", "MOMENTUM_SCHEDULES", "MOMENTUM_SCHEDULE_NAMES", "Kind",
           "check_schedule_name", "is_builtin_schedule", "schedule_function"]  # fmt: skip

Kind = Literal["lr", "momentum"]

_AT = "nagexp.training.schedules"

# name -> import path; the peak value is the config's `lr`
LR_SCHEDULES: dict[str, str] = {
    "constant": f"{_AT}:constant_lr",
    "step": f"{_AT}:step_lr",  # x lr_gamma at each of lr_milestones (fractions of training)
    "cosine": f"{_AT}:cosine_lr",
    "warmup_cosine": f"{_AT}:warmup_cosine_lr",  # linear warmup over warmup_fraction, then cosine
    "onecycle": f"{_AT}:onecycle_lr",  # torch's OneCycleLR with cosine annealing
    "linear": f"{_AT}:linear_lr",  # straight down to lr * lr_final_fraction
    # up from lr * lr_initial_fraction over warmup_fraction, then down to lr * lr_final_fraction
    "warmup_linear": f"{_AT}:warmup_linear_lr",
    "piecewise": f"{_AT}:piecewise_lr",  # lr_knots [[step, value], ...] (a PBT winner's)
}
# name -> import path; the peak value is the config's `momentum` (mu_max)
MOMENTUM_SCHEDULES: dict[str, str] = {
    "constant": f"{_AT}:constant_momentum",
    "sutskever": f"{_AT}:sutskever_momentum",  # Sutskever et al. 2013's ramp, capped at mu_max
    "cyclical": f"{_AT}:cyclical_momentum",  # mu_max -> momentum_min -> mu_max, inverse of one-cycle
    "final_drop": f"{_AT}:final_drop_momentum",  # final_momentum over the last final_drop_fraction
    "piecewise": f"{_AT}:piecewise_momentum",  # momentum_knots [[step, value], ...]
}
LR_SCHEDULE_NAMES: tuple[str, ...] = tuple(LR_SCHEDULES)
MOMENTUM_SCHEDULE_NAMES: tuple[str, ...] = tuple(MOMENTUM_SCHEDULES)


def _registry(kind: Kind) -> dict[str, str]:
    return LR_SCHEDULES if kind == "lr" else MOMENTUM_SCHEDULES


def is_builtin_schedule(kind: Kind, name: str) -> bool:
    return name in _registry(kind)


def check_schedule_name(kind: Kind, name: str) -> str:
    """`name` when it names a registered schedule or has the form `package.module:fn` (whether
    that imports is checked before a run); ValueError otherwise."""
    if not is_builtin_schedule(kind, name) and not is_import_path(name):
        allowed = ", ".join(_registry(kind))
        raise ValueError(f"unknown {kind}_schedule '{name}'; allowed: {allowed}, or your own as package.module:fn")
    return name


def schedule_function(kind: Kind, name: str) -> Callable[..., Any]:
    """The function `name` names (ConfigError naming the import path when it does not import)."""
    found = resolve_import_path(_registry(kind).get(check_schedule_name(kind, name), name), f"{kind}_schedule")
    if not callable(found):
        raise ConfigError(f"{kind}_schedule '{name}' is a {type(found).__name__}, not a function "
                          "fn(step, total_steps, **args) -> float")  # fmt: skip
    return found
