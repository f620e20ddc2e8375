"""Where successive halving decides, and why there: the rung epochs of a sweep.

One owner for the rule, asked by the schedulers (async ASHA and deterministic halving), the
trainable (a cooldown probe runs at each rung), the sweep header and the report. A rung never
comes before the longest warmup the space can sample has ended: during warmup a schedule has
not reached its peak learning rate, so its accuracy says little about where it ends (on
CIFAR-10, Kendall's tau of epoch-1 against final val_acc was 0.07).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nagexp.config.space import CategoricalParam, FixedParam, FloatParam, SearchSpace
from nagexp.config.space_sections import metric_bounds
from nagexp.registries.optimizers import SCHEDULE_FREE
from nagexp.registries.trainers import BUILTIN_TRAINER, is_builtin_trainer
from nagexp.results.rung_signals import PROBED_METRICS, RungSignal
from nagexp.results.trial_report import RUNG_SIGNAL_KEY

__all__ = ["AUTO_SIGNAL", "WARMUP_SHARE_FIELD", "RungPlan", "describe_rungs", "longest_warmup", "ranked_metric",
           "resolved_signal", "rung_plan", "rung_signal"]

# schedules that warm up, and the TrainConfig field holding the share of steps they warm up for
WARMUP_SHARE_FIELD: dict[str, str] = {
    "warmup_cosine": "warmup_fraction",
    "warmup_linear": "warmup_fraction",
    "onecycle": "onecycle_pct_start",
    "cyclical": "onecycle_pct_start",
}
_DEFAULT_SHARE = {"warmup_fraction": 0.1, "onecycle_pct_start": 0.25}  # TrainConfig's defaults


@dataclass(frozen=True)
class RungPlan:
    epochs: tuple[int, ...]  # the epochs ASHA ranks trials at, below the last
    why: str  # one phrase for the sweep header: what set the first rung
    first: int  # where the first rung is (or would be: at or after the last epoch, there is none)


def _values(space: SearchSpace, name: str, default: Any) -> list[Any]:
    """Every value `name` can take in the space (a float range: its ends)."""
    param = space.params.get(name)
    if isinstance(param, CategoricalParam):
        return list(param.choices)
    if isinstance(param, FloatParam):
        return [param.low, param.high]
    if isinstance(param, FixedParam):
        return [param.value]
    return [space.fixed.get(name, default)]


def longest_warmup(space: SearchSpace) -> tuple[float, str]:
    """(the largest share of a run any schedule of the space warms up for, the field that says so)."""
    share, field = 0.0, ""
    schedules = _values(space, "lr_schedule", "cosine")
    if any(o == "sgd_schedulefree" for o in _values(space, "optimizer", "nag")):
        schedules.append("warmup_cosine")  # schedule-free SGD warms up over warmup_fraction too
    for schedule in schedules:
        name = WARMUP_SHARE_FIELD.get(str(schedule))
        if name is None:
            continue
        top = max(float(v) for v in _values(space, name, _DEFAULT_SHARE[name]))
        if top > share:
            share, field = top, name
    return share, field


def rung_plan(space: SearchSpace, max_epochs: int) -> RungPlan:
    """ASHA's rungs for runs of `max_epochs`: the first at the space's grace period or where the
    longest warmup ends, whichever is later, then x reduction_factor each."""
    asha = space.asha
    share, field = longest_warmup(space)
    after_warmup = math.ceil(share * max_epochs - 1e-9) if share else 0
    first = max(asha.grace_period, after_warmup)
    why = f"grace period {asha.grace_period}"
    if after_warmup > asha.grace_period:
        why = f"after the longest warmup: {field} up to {share:g} of {max_epochs} epochs"
    return RungPlan(tuple(asha.milestones(max_epochs, first=first)), why, first)


# `asha.signal: auto` for a decaying schedule: the signal with the best Kendall's tau at the first
# rung on both tasks of benchmarks/rank_fidelity (docs/benchmarks.md, "Rank fidelity")
AUTO_SIGNAL = "cooldown"


def resolved_signal(space: SearchSpace) -> tuple[str, str]:
    """(what ASHA ranks on: raw, cooldown or curve, why): the space's `asha.signal`, with auto
    resolved: the cooldown probe where nagexp's trainer runs a decaying lr schedule, else raw."""
    signal = space.asha.signal
    if signal != "auto":
        return signal, "asha.signal"
    if not is_builtin_trainer(str(space.fixed.get("trainer", BUILTIN_TRAINER))):
        return "raw", "auto: a training function of your own runs no cooldown probe"
    if space.objective.metric not in PROBED_METRICS:
        return "raw", f"auto: a cooldown probe measures {' and '.join(PROBED_METRICS)} only"
    schedule_free = all(str(o) in SCHEDULE_FREE for o in _values(space, "optimizer", "nag"))
    if schedule_free or all(str(s) == "constant" for s in _values(space, "lr_schedule", "cosine")):
        return "raw", "auto: a constant learning rate has no cooldown"
    return AUTO_SIGNAL, "auto: the learning rate decays"


def rung_signal(space: SearchSpace, max_epochs: int) -> RungSignal:
    """The space's rung signal for ASHA's primary objective, with the rungs it is read at."""
    metric = space.objective.metric
    return RungSignal(kind=resolved_signal(space)[0], metric=metric, epochs=max_epochs,
                      rungs=rung_plan(space, max_epochs).epochs, cooldown_fraction=space.asha.cooldown,
                      bounds=metric_bounds(metric))  # fmt: skip


def ranked_metric(space: SearchSpace, max_epochs: int) -> str:
    """The report key ASHA ranks trials on: the rung signal's, or the metric itself when raw."""
    return space.objective.metric if rung_signal(space, max_epochs).ranks_raw else RUNG_SIGNAL_KEY


def describe_rungs(space: SearchSpace, max_epochs: int) -> str:
    """One line for the sweep header: where ASHA decides, why the first rung is there, and on what."""
    plan, signal = rung_plan(space, max_epochs), rung_signal(space, max_epochs)
    ranked = {"raw": signal.metric, "curve": f"{signal.metric} extrapolated to epoch {max_epochs} (learning curve)",
              "cooldown": f"{signal.metric} after a cooldown probe ({space.asha.cooldown:g} of the steps so far)"}
    on = signal.metric if signal.ranks_raw else ranked[signal.kind]
    if not plan.epochs:
        return (f"ASHA: no rung: the first would be at epoch {plan.first} ({plan.why}), not before the last "
                f"(epoch {max_epochs}); every trial runs to the end")
    where = ", ".join(str(e) for e in plan.epochs)
    return (f"ASHA: rungs at epoch{'s' if len(plan.epochs) > 1 else ''} {where} ({plan.why}), "
            f"reduction {space.asha.reduction_factor:g}, ranked on {on}")
