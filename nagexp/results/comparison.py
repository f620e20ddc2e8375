"""A comparison's result as plain data (`nagexp compare`): each arm's sweep and its best config
retrained on the paired seeds, the paired differences and the verdicts; compare.json holds it
and the comparison report draws it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nagexp.config.space_sections import metric_bounds
from nagexp.results.profiles import TAUS, common_target, epochs_to_target, performance_profile
from nagexp.results.statistics import mean_ci95, paired_difference

__all__ = ["ArmResult", "Comparison", "paired_verdict"]


@dataclass
class ArmResult:
    arm: str  # the optimizer, or the search method, this arm stands for
    sweep: str
    best_trial: int | None
    best_value: float | None  # the arm's sweep's best objective
    best_config: dict[str, Any] | None
    seed_values: list[float] = field(default_factory=list)  # best config, retrained on the paired seeds
    epochs_trained: int = 0  # by the arm's sweep, over all its trials (the search's cost)
    schedule: dict[str, Any] = field(default_factory=dict)  # steps, and lr / momentum knots of the best config
    metric: str = ""  # what seed_values are values of (its bounds bound the interval)
    seed_curves: list[list[float]] = field(default_factory=list)  # the metric every epoch, per paired seed

    @property
    def ci(self) -> tuple[float, float, float] | None:
        return mean_ci95(self.seed_values, metric_bounds(self.metric)) if self.seed_values else None


@dataclass
class Comparison:
    name: str
    metric: str
    mode: str
    axis: str  # what the arms differ in: optimizer | method
    seeds: list[int]
    arms: list[ArmResult]
    paired: list[dict[str, Any]]  # first arm against each other arm
    verdicts: list[str]

    def time_to_target(self) -> dict[str, Any] | None:
        """The retrained runs' epochs to a target every arm reaches on average (the worst arm's
        mean final value), per seed, and the AlgoPerf-style profile over them."""
        curves = {a.arm: a.seed_curves for a in self.arms}
        target = common_target(curves, self.mode)
        if target is None:
            return None
        hits = {arm: [epochs_to_target(c, target, self.mode) for c in cs] for arm, cs in curves.items()}
        return {"target": target, "epochs_to_target": hits, "taus": list(TAUS),
                "profile": performance_profile(hits, TAUS)}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "metric": self.metric, "mode": self.mode, "axis": self.axis, "seeds": self.seeds,
            "arms": [{**a.__dict__, "ci95": a.ci} for a in self.arms],
            "paired": self.paired, "verdicts": self.verdicts, "time_to_target": self.time_to_target(),
        }  # fmt: skip


def paired_verdict(a: ArmResult, b: ArmResult, metric: str, mode: str) -> tuple[dict[str, Any], str]:
    """Arm `a` against arm `b` on the same seeds: the row compare.json keeps and a verdict."""
    d = paired_difference(a.seed_values, b.seed_values, metric_bounds(metric))
    scale, unit = (100.0, " points") if metric.endswith("acc") else (1.0, "")
    better = d.mean > 0 if mode == "max" else d.mean < 0
    half = (d.high - d.low) / 2 * scale
    if d.p_value < 0.05 and d.mean != 0:
        winner, loser = (a, b) if better else (b, a)
        verdict = (f"{winner.arm} beats {loser.arm} by {abs(d.mean) * scale:.2f} ± {half:.2f}{unit} "
                   f"of {metric} on this task (paired t-test over {d.seeds} seeds, p = {d.p_value:.3g})")  # fmt: skip
    else:
        verdict = (f"no significant difference between {a.arm} and {b.arm} "
                   f"({(d.mean * scale):+.2f} ± {half:.2f}{unit} of {metric}, "
                   f"p = {d.p_value:.3g}, {d.seeds} seeds)")  # fmt: skip
    return {"a": a.arm, "b": b.arm, "mean_diff": d.mean, "ci95": [d.low, d.high], "p_value": d.p_value}, verdict
