"""`nagexp compare`: is Nesterov worth it here? One sweep per optimizer over the same
space and budget, then each arm's best config retrained on the same seeds (paired)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nagexp.config.space import SearchSpace, find_space_file, load_space
from nagexp.config.sweep import SweepOptions, resolve_sweep
from nagexp.config.train import TrainConfig
from nagexp.errors import ConfigError
from nagexp.io import atomic_write_text, to_yaml
from nagexp.prepared.modes import load_train_data
from nagexp.prepared.store import cache_dir_for
from nagexp.space.sampling import trial_seed
from nagexp.sweeps.ray_runtime import connect_ray
from nagexp.sweeps.reproduce import mean_ci95
from nagexp.sweeps.runner import run_sweep
from nagexp.training.optim import OPTIMIZER_NAMES
from nagexp.training.trainer import train

__all__ = ["ArmResult", "Comparison", "arm_space", "run_comparison"]

# params that only mean something with momentum: dropped from the plain-SGD arm
MOMENTUM_PARAMS = {"momentum", "momentum_schedule", "momentum_min", "sutskever_period", "final_momentum",
                   "final_drop_fraction"}  # fmt: skip
PAIRED_SEED_OFFSET = 2_000_000  # the seeds every arm's best config is retrained on


def arm_space(space: SearchSpace, optimizer: str) -> SearchSpace:
    """The space for one arm: `optimizer` fixed; params that do not apply dropped;
    `when` conditions on the optimizer resolved for this arm."""
    dropped = {"optimizer"} | (MOMENTUM_PARAMS if optimizer == "sgd" else set())
    params: dict[str, Any] = {}
    for name, param in space.ordered_params():  # parents first, so a dropped parent drops its children
        if name in dropped:
            continue
        conditions = param.conditions()
        if "optimizer" in conditions and optimizer not in conditions["optimizer"]:
            dropped.add(name)
            continue
        if any(parent in dropped for parent in conditions if parent != "optimizer"):
            dropped.add(name)
            continue
        when = {k: v for k, v in conditions.items() if k != "optimizer"} or None
        params[name] = param.model_copy(update={"when": when})
    fixed = {**space.fixed, "optimizer": optimizer}
    return space.model_copy(update={"fixed": fixed, "params": params})


@dataclass
class ArmResult:
    optimizer: str
    sweep: str
    best_trial: int | None
    best_value: float | None  # the arm's sweep's best objective
    best_config: dict[str, Any] | None
    seed_values: list[float] = field(default_factory=list)  # best config, retrained on the paired seeds

    @property
    def ci(self) -> tuple[float, float, float] | None:
        return mean_ci95(self.seed_values) if self.seed_values else None


@dataclass
class Comparison:
    name: str
    metric: str
    mode: str
    seeds: list[int]
    arms: list[ArmResult]
    paired: list[dict[str, Any]]  # first arm against each other arm
    verdicts: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "metric": self.metric, "mode": self.mode, "seeds": self.seeds,
            "arms": [{**a.__dict__, "ci95": a.ci} for a in self.arms],
            "paired": self.paired, "verdicts": self.verdicts,
        }  # fmt: skip


def _paired(a: ArmResult, b: ArmResult, metric: str, mode: str) -> tuple[dict[str, Any], str]:
    from scipy import stats

    diffs = [x - y for x, y in zip(a.seed_values, b.seed_values, strict=True)]
    mean, low, high = mean_ci95(diffs)
    if len(diffs) < 2 or statistics.pstdev(diffs) == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(stats.ttest_rel(a.seed_values, b.seed_values).pvalue)
    scale, unit = (100.0, " points") if metric.endswith("acc") else (1.0, "")
    better = mean > 0 if mode == "max" else mean < 0
    half = (high - low) / 2 * scale
    if p < 0.05 and mean != 0:
        winner, loser = (a, b) if better else (b, a)
        verdict = (f"{winner.optimizer} beats {loser.optimizer} by {abs(mean) * scale:.2f} ± {half:.2f}{unit} "
                   f"of {metric} on this task (paired t-test over {len(diffs)} seeds, p = {p:.3g})")  # fmt: skip
    else:
        verdict = (f"no significant difference between {a.optimizer} and {b.optimizer} "
                   f"({(mean * scale):+.2f} ± {half:.2f}{unit} of {metric}, "
                   f"p = {p:.3g}, {len(diffs)} seeds)")  # fmt: skip
    return {"a": a.optimizer, "b": b.optimizer, "mean_diff": mean, "ci95": [low, high], "p_value": p}, verdict


def run_comparison(
    space_path: Path,
    optimizers: list[str],
    base: SweepOptions,
    seeds: int,
    emit: Callable[[str], None] = print,
    parent_run: Callable[[str, int, list[str]], str | None] | None = None,
    command: str | None = None,
) -> Comparison:
    """Run one sweep per optimizer (same trials, epochs, sampler seed and data), then retrain
    each arm's best config on the same `seeds` seeds and compare them pairwise."""
    unknown = [o for o in optimizers if o not in OPTIMIZER_NAMES]
    if unknown or len(optimizers) < 2 or len(set(optimizers)) != len(optimizers):
        raise ConfigError(f"--optimizers needs two or more distinct of {', '.join(OPTIMIZER_NAMES)} (got {optimizers})")
    if seeds < 2:
        raise ConfigError(f"--seeds must be at least 2 for a paired comparison (got {seeds})")
    name = base.name
    assert name is not None
    root = base.results_dir.expanduser().resolve() / name
    if root.exists():
        raise ConfigError(f"'{root}' already exists; pick another --name")
    space_path = find_space_file(space_path)
    space = load_space(space_path)
    parent_id = parent_run(name, base.seed, optimizers) if parent_run else None

    started_ray = connect_ray(base.address)  # one Ray runtime for every arm
    try:
        arms = _run_arms(space, space_path, optimizers, base, root, parent_id, emit, command)
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    metric, mode = space.objective.metric, space.objective.direction
    paired_seeds = [trial_seed(base.seed, PAIRED_SEED_OFFSET + k) for k in range(seeds)]
    emit(f"\nretraining each arm's best config on {seeds} paired seeds")
    data = None
    for arm in arms:
        if arm.best_config is None:
            raise ConfigError(f"arm '{arm.optimizer}' finished no trial; nothing to compare (see its trials.csv)")
        for seed in paired_seeds:
            cfg = TrainConfig(**{**arm.best_config, "seed": seed})
            # the same data for every arm and seed (prepared shards, when the sweeps made them)
            if data is None:
                cache = cache_dir_for(base.cache_dir, base.results_dir)
                data, _ = load_train_data(cfg, cache, base.memory_budget, emit)
            result = train(cfg, data)
            arm.seed_values.append(float(result.final.get(metric, math.nan)))
    paired, verdicts = [], []
    for other in arms[1:]:
        stats_row, verdict = _paired(arms[0], other, metric, mode)
        paired.append(stats_row)
        verdicts.append(verdict)
    comparison = Comparison(name, metric, mode, paired_seeds, arms, paired, verdicts)
    atomic_write_text(root / "compare.json", json.dumps(comparison.to_dict(), indent=2, default=str) + "\n")
    return comparison


def _run_arms(
    space: SearchSpace,
    space_path: Path,
    optimizers: list[str],
    base: SweepOptions,
    root: Path,
    parent_id: str | None,
    emit: Callable[[str], None],
    command: str | None,
) -> list[ArmResult]:
    """One sweep per optimizer: the same options (trials, epochs, sampler seed, data)."""
    arms, name = [], root.name
    for optimizer in optimizers:
        arm_file = root / "spaces" / f"{optimizer}.yaml"
        header = f"# arm '{optimizer}' of comparison {name}, derived from {space_path}\n"
        atomic_write_text(arm_file, header + to_yaml(json.loads(arm_space(space, optimizer).model_dump_json())))
        options = base.model_copy(
            update={"space": arm_file, "name": f"{name}-{optimizer}", "mlflow_parent_run": parent_id}
        )
        spec = resolve_sweep(options)
        emit(f"\n== arm {optimizer}: sweep {spec.name}")
        best = run_sweep(spec, emit=emit, command=command).best
        arms.append(ArmResult(optimizer, spec.name, best.number if best else None, best.final if best else None,
                              TrainConfig(**best.replay_config).model_dump(mode="json") if best else None))  # fmt: skip
    return arms
