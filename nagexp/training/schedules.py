"""Learning-rate and momentum schedules: pure functions of (step, total steps, config).

Each reads the fields of a TrainConfig it needs, so it is unit-tested without an optimizer.
Steps count optimizer updates from 0 to total-1. The registry (`nagexp.registries.schedules`)
names them, and the user's own, by import path; the trainer evaluates the config's schedules
once for every step before training (`lr_values`, `momentum_values`) so the step loop only
indexes a list. Those values are checked there, one rule for every schedule: finite, lr >= 0,
momentum in [0, 1).
"""

from __future__ import annotations

import inspect
import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nagexp.core.errors import ConfigError
from nagexp.registries.schedules import Kind, is_builtin_schedule, schedule_function

if TYPE_CHECKING:
    from nagexp.config.train import TrainConfig

__all__ = [
    "check_schedules",
    "knots_of",
    "lr_values",
    "momentum_values",
    "piecewise_value",
    "schedule_values",
    "steps_in_run",
    "torch_lr_values",
    "weight_decay_values",
]



def _cosine_between(start: float, end: float, fraction: float) -> float:
    """Cosine interpolation: `start` at fraction 0, `end` at fraction 1."""
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))


# ---- learning rate: peak value `p.lr` ------------------------------------------------


def constant_lr(step: int, total: int, p: TrainConfig) -> float:
    return p.lr


def step_lr(step: int, total: int, p: TrainConfig) -> float:
    # Multiply by gamma at each milestone (a fraction of training).
    passed = sum(step >= round(m * total) for m in p.lr_milestones)
    return p.lr * p.lr_gamma**passed


def cosine_lr(step: int, total: int, p: TrainConfig) -> float:
    return _cosine_between(p.lr, 0.0, step / total)


def warmup_cosine_lr(step: int, total: int, p: TrainConfig) -> float:
    warmup = round(p.warmup_fraction * total)
    # 1. linear warmup to the peak, reached on the last warmup step
    if step < warmup:
        return p.lr * (step + 1) / warmup
    # 2. cosine decay to zero over the remaining steps
    return _cosine_between(p.lr, 0.0, (step - warmup) / max(1, total - warmup))


def _onecycle_peak(total: int, p: TrainConfig) -> int:
    # The step where one-cycle LR peaks (torch's OneCycleLR: pct_start * total - 1).
    return max(1, min(total - 2, round(p.onecycle_pct_start * total) - 1))


def onecycle_lr(step: int, total: int, p: TrainConfig) -> float:
    # As torch's OneCycleLR with cosine annealing.
    start = p.lr / p.onecycle_div_factor
    final = start / p.onecycle_final_div_factor
    peak_step = _onecycle_peak(total, p)
    # 1. warm up from lr/div to lr, reached at peak_step
    if step <= peak_step:
        return _cosine_between(start, p.lr, step / peak_step)
    # 2. anneal from lr to lr/(div*final_div)
    return _cosine_between(p.lr, final, (step - peak_step) / max(1, total - 1 - peak_step))


def linear_lr(step: int, total: int, p: TrainConfig) -> float:
    # Straight line from the peak to lr * lr_final_fraction at the end of training.
    return p.lr * (1.0 - (1.0 - p.lr_final_fraction) * step / total)


def warmup_linear_lr(step: int, total: int, p: TrainConfig) -> float:
    # airbench's: straight up from lr * lr_initial_fraction (before the first step) to the peak,
    # reached on the last warmup step, then straight down to lr * lr_final_fraction on the last step
    warmup = max(1, round(p.warmup_fraction * total))
    if step < warmup:
        fraction = (step + 1) / warmup
        return p.lr * (p.lr_initial_fraction + (1.0 - p.lr_initial_fraction) * fraction)
    fraction = (step + 1 - warmup) / max(1, total - warmup)
    return p.lr * (1.0 - (1.0 - p.lr_final_fraction) * fraction)


def piecewise_value(knots: Sequence[Sequence[float]], step: int, linear: bool = False) -> float:
    """The value at `step` of (step, value) knots, the first at step 0: the last knot's value
    (constant), or the straight line to the next knot (linear); the last value holds."""
    i = bisect_right([k[0] for k in knots], step) - 1
    start, value = knots[i]
    if not linear or i + 1 == len(knots):
        return float(value)
    end, following = knots[i + 1]
    return float(value + (following - value) * (step - start) / (end - start))


def piecewise_lr(step: int, total: int, p: TrainConfig) -> float:
    # Knots in optimizer steps, e.g. a schedule population-based training found.
    return piecewise_value(p.lr_knots, step, p.knot_interpolation == "linear")


# ---- momentum: peak value `p.momentum` (mu_max) --------------------------------------


def constant_momentum(step: int, total: int, p: TrainConfig) -> float:
    return p.momentum


def sutskever_momentum(step: int, total: int, p: TrainConfig) -> float:
    # Sutskever et al. 2013: mu_t = min(1 - 2^(-1 - log2(floor(t / period) + 1)), mu_max);
    # 0.5 for the first period, then 0.75, 0.833, ... capped at mu_max.
    stage = math.floor(step / p.sutskever_period) + 1
    return min(1.0 - 2.0 ** (-1.0 - math.log2(stage)), p.momentum)


def cyclical_momentum(step: int, total: int, p: TrainConfig) -> float:
    # Inverse of the one-cycle LR: mu_max -> mu_min while LR rises, back while it falls.
    peak_step = _onecycle_peak(total, p)
    if step <= peak_step:
        return _cosine_between(p.momentum, p.momentum_min, step / peak_step)
    return _cosine_between(p.momentum_min, p.momentum, (step - peak_step) / max(1, total - 1 - peak_step))


def final_drop_momentum(step: int, total: int, p: TrainConfig) -> float:
    # 1. mu_max for most of training; 2. final_momentum for the last final_drop_fraction.
    drop_step = round((1.0 - p.final_drop_fraction) * total)
    return p.momentum if step < drop_step else p.final_momentum


def piecewise_momentum(step: int, total: int, p: TrainConfig) -> float:
    return piecewise_value(p.momentum_knots, step, p.knot_interpolation == "linear")


# ---- whole-run tables used by the trainer --------------------------------------------


def _per_step(p: TrainConfig, kind: Kind) -> Callable[[int, int], float]:
    """The config's `kind` schedule as value(step, total): a built-in reads the config, the
    user's function gets its arguments (and `peak` when it takes one)."""
    name: str = getattr(p, f"{kind}_schedule")
    fn = schedule_function(kind, name)
    if is_builtin_schedule(kind, name):
        return lambda step, total: fn(step, total, p)
    args = dict(getattr(p, f"{kind}_schedule_args"))
    try:
        takes_peak = "peak" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a callable without a signature Python can read
        takes_peak = False
    if takes_peak:
        args.setdefault("peak", p.lr if kind == "lr" else p.momentum)
    return lambda step, total: fn(step, total, **args)


def schedule_values(p: TrainConfig, kind: Kind, total: int) -> list[float]:
    """The config's `kind` schedule at every step of a run of `total` steps; ConfigError in one
    line when it raises or gives a value that is not a number, not finite or out of range."""
    name: str = getattr(p, f"{kind}_schedule")
    value_of = _per_step(p, kind)
    where = f"{kind}_schedule '{name}'" + (f" with {kind}_schedule_args {args}"
                                          if (args := getattr(p, f"{kind}_schedule_args")) else "")  # fmt: skip
    values: list[float] = []
    for step in range(total):
        try:
            value = float(value_of(step, total))
        except Exception as exc:
            raise ConfigError(f"{where} raised {type(exc).__name__}: {exc} at step {step} of {total}") from None
        low_ok = value >= 0.0
        high_ok = kind == "lr" or value < 1.0
        if not (math.isfinite(value) and low_ok and high_ok):
            allowed = "finite and >= 0" if kind == "lr" else "in [0, 1)"
            raise ConfigError(f"{where} gave {value!r} at step {step} of {total}; {kind} values "
                              f"must be {allowed} at every step of the run")  # fmt: skip
        values.append(value)
    return values


def steps_in_run(p: TrainConfig, train_size: int) -> int:
    """Optimizer steps of a whole run on `train_size` training samples (full batches only)."""
    return max(1, train_size // p.batch_size) * p.epochs


def check_schedules(p: TrainConfig, train_size: int) -> None:
    """Both schedules of `p` give allowed values over its whole run (ConfigError otherwise):
    what the driver checks before a run or sweep starts."""
    total = steps_in_run(p, train_size)
    lr_values(p, total)
    momentum_values(p, total)


def lr_values(p: TrainConfig, total: int) -> list[float]:
    """The scheduled (searched) learning rate for every step."""
    return schedule_values(p, "lr", total)


def momentum_values(p: TrainConfig, total: int) -> list[float]:
    """Momentum for every step; 0 throughout for plain SGD."""
    if p.optimizer == "sgd":
        return [0.0] * total
    return schedule_values(p, "momentum", total)


def weight_decay_values(p: TrainConfig, total: int) -> list[float]:
    """Weight decay for every step: `weight_decay`, or its knots when it has them."""
    if not p.weight_decay_knots:
        return [p.weight_decay] * total
    linear = p.knot_interpolation == "linear"
    return [piecewise_value(p.weight_decay_knots, step, linear) for step in range(total)]


def knots_of(values: Sequence[float]) -> list[list[float]]:
    """Per-step values as the fewest constant knots [[step, value], ...] that give them back."""
    knots: list[list[float]] = []
    for step, value in enumerate(values):
        if not knots or knots[-1][1] != value:
            knots.append([step, float(value)])
    return knots


def torch_lr_values(p: TrainConfig, total: int) -> list[float]:
    """The lr written into torch's param groups for every step.

    In `raw` mode this is the scheduled lr. In `effective` mode the scheduled value is the
    effective step size lr / (1 - mu) (torch's update is v = mu*v + g; p -= lr*v), so the
    torch lr follows the momentum schedule: lr_t * (1 - mu_t).
    """
    lrs = lr_values(p, total)
    if p.lr_mode == "raw":
        return lrs
    return [lr * (1.0 - mu) for lr, mu in zip(lrs, momentum_values(p, total), strict=True)]
