"""The first lines a sweep prints: what it trains, how it searches, and where ASHA decides."""

from __future__ import annotations

from typing import Any

from nagexp.config.sweep import SweepSpec
from nagexp.core.wording import counted
from nagexp.registries.trainers import BUILTIN_TRAINER, is_builtin_trainer
from nagexp.space.rungs import describe_rungs

__all__ = ["describe_objectives", "sweep_header"]


def _what_trains(fixed: dict[str, Any]) -> str:
    """"cnn on digits", or the user's function (which loads its own data)."""
    trainer = str(fixed.get("trainer", BUILTIN_TRAINER))
    if not is_builtin_trainer(trainer):
        return trainer
    return f"{fixed.get('model', 'cnn')} on {fixed.get('dataset', 'digits')}"


def describe_objectives(spec: SweepSpec) -> str:
    """"max val_acc", or each objective and how the best is picked from their Pareto front."""
    objectives = spec.space.objectives
    several = f" (--pick {spec.options.pick})" if len(objectives) > 1 else ""
    return ", ".join(f"{x.direction} {x.metric}" for x in objectives) + several


def sweep_header(spec: SweepSpec) -> list[str]:
    o = spec.options
    lines = [f"sweep {spec.name}: {counted(o.trials, 'trial')} of {_what_trains(spec.space.fixed)}, {o.sampler} + "
             f"{o.scheduler}, objective {describe_objectives(spec)}, seed {o.seed}"]  # fmt: skip
    if o.scheduler == "asha":
        lines.append(describe_rungs(spec.space, spec.epochs))
    return lines
