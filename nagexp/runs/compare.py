"""`nagexp compare`: is Nesterov worth it here, and is a learned schedule better than the best
fixed one? One sweep per arm (an optimizer, or a search method: sampler + scheduler, e.g.
tpe-asha against pbt) over the same space and budget, then each arm's best config (for a
population-based arm: its winner's schedule, replayed from scratch) retrained on the same
seeds (paired)."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nagexp.config.space import SearchSpace, find_space_file, load_space
from nagexp.config.sweep import SweepOptions, SweepSpec
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError, InterruptedRun
from nagexp.core.io import atomic_write_text, to_yaml
from nagexp.core.process_settings import restored_process_settings
from nagexp.core.seeds import trial_seed
from nagexp.data.loading import load_train_data
from nagexp.data.prepared.store import cache_dir_for
from nagexp.registries.optimizers import OPTIMIZER_NAMES, SCHEDULE_FREE
from nagexp.registries.samplers import SAMPLER_NAMES
from nagexp.registries.schedulers import POPULATION_SCHEDULERS, SCHEDULER_NAMES
from nagexp.results.comparison import ArmResult, Comparison, paired_verdict
from nagexp.results.folders import COMPARISON_FILE
from nagexp.runtime.ray_session import connect_ray, ray_settings, shutdown_ray
from nagexp.sweeps.folder import resume_command
from nagexp.sweeps.runner import run_sweep
from nagexp.sweeps.spec import resolve_sweep
from nagexp.training.checkpoint import TrainCheckpoint
from nagexp.training.schedules import knots_of
from nagexp.training.trainer import train

__all__ = ["arm_space", "parse_method", "run_comparison"]

# params that only mean something with momentum: dropped from the plain-SGD arm
MOMENTUM_PARAMS = {"momentum", "momentum_schedule", "momentum_min", "sutskever_period", "final_momentum",
                   "final_drop_fraction"}  # fmt: skip
# what schedules read: dropped from a schedule-free arm, whose schedules are constant
SCHEDULE_PARAMS = {"lr_schedule", "momentum_schedule", "lr_schedule_args", "momentum_schedule_args", "lr_milestones",
                   "lr_gamma", "onecycle_pct_start", "onecycle_div_factor", "onecycle_final_div_factor",
                   "lr_final_fraction", "lr_knots", "knot_interpolation", "momentum_min", "sutskever_period",
                   "final_momentum", "final_drop_fraction", "momentum_knots", "lr_mode", "lr_initial_fraction",
                   # schedule-free SGD averages its weights itself
                   "weight_averaging", "lookahead_every", "lookahead_decay"}  # fmt: skip
PAIRED_SEED_OFFSET = 2_000_000  # the seeds every arm's best config is retrained on


def _not_applying(optimizer: str) -> set[str]:
    if optimizer == "sgd":
        return set(MOMENTUM_PARAMS)
    return set(SCHEDULE_PARAMS) if optimizer in SCHEDULE_FREE else set()


def arm_space(space: SearchSpace, optimizer: str) -> SearchSpace:
    """The space for one arm: `optimizer` fixed; params that do not apply dropped (a
    schedule-free arm's schedules: constant); `when` conditions on the optimizer resolved for
    this arm."""
    dropped = {"optimizer"} | _not_applying(optimizer)
    params: dict[str, Any] = {}
    for name, param in space.ordered_params():  # parents first, so a dropped parent drops its children
        if name in dropped or name.split(".")[0] in dropped:  # `lr_schedule_args.NAME` too
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
    if optimizer in SCHEDULE_FREE:
        fixed = {k: v for k, v in fixed.items() if k.split(".")[0] not in SCHEDULE_PARAMS}
        fixed.update(lr_schedule="constant", momentum_schedule="constant")
    return space.model_copy(update={"fixed": fixed, "params": params})


def parse_method(method: str, sampler: str) -> tuple[str, str]:
    """`tpe-asha` -> (tpe, asha); `pbt` / `pb2` -> (`sampler`, which draws the first population, pbt)."""
    if method in POPULATION_SCHEDULERS:
        return sampler, method
    first, _, second = method.partition("-")
    if first not in SAMPLER_NAMES or second not in SCHEDULER_NAMES:
        raise ConfigError(f"unknown method '{method}': use SAMPLER-SCHEDULER (samplers: "
                          f"{', '.join(SAMPLER_NAMES)}; schedulers: {', '.join(SCHEDULER_NAMES)}) or "
                          f"{' / '.join(POPULATION_SCHEDULERS)}")  # fmt: skip
    return first, second


def _check_arms(axis: str, arms: list[str], sampler: str) -> None:
    if axis == "optimizer":
        if any(a not in OPTIMIZER_NAMES for a in arms) or len(arms) < 2 or len(set(arms)) != len(arms):
            raise ConfigError(f"--optimizers needs two or more distinct of {', '.join(OPTIMIZER_NAMES)} (got {arms})")
        return
    for method in arms:
        parse_method(method, sampler)
    if len(arms) < 2 or len({parse_method(m, sampler) for m in arms}) != len(arms):
        raise ConfigError(f"--methods needs two or more distinct methods, e.g. tpe-asha,pbt (got {arms})")


def run_comparison(
    space_path: Path,
    arms: list[str],
    base: SweepOptions,
    seeds: int,
    emit: Callable[[str], None] = print,
    parent_run: Callable[[str, int, list[str]], str | None] | None = None,
    command: str | None = None,
    axis: str = "optimizer",
) -> Comparison:
    """Run one sweep per arm (same trials, epochs, sampler seed and data), then retrain each
    arm's best config on the same `seeds` seeds and compare them pairwise. `axis`: the arms
    are optimizers (each arm's space fixes its optimizer) or search methods (sampler-scheduler
    pairs over the same space)."""
    _check_arms(axis, arms, base.sampler)
    if seeds < 2:
        raise ConfigError(f"--seeds must be at least 2 for a paired comparison (got {seeds})")
    name = base.name
    assert name is not None
    root = base.results_dir.expanduser().resolve() / name
    if root.exists():
        raise ConfigError(f"'{root}' already exists; pick another --name")
    space_path = find_space_file(space_path)
    space = load_space(space_path)
    specs = _arm_specs(space, space_path, arms, axis, base, root)  # every arm checked before any runs
    parent_id = parent_run(name, base.seed, arms) if parent_run else None
    metric, mode = space.objective.metric, space.objective.direction
    paired_seeds = [trial_seed(base.seed, PAIRED_SEED_OFFSET + k) for k in range(seeds)]
    with restored_process_settings(), ray_settings():
        started_ray = connect_ray(base.address)  # one Ray runtime for every arm (and stream-mode retraining)
        try:
            results = _run_arms(specs, parent_id, emit, command, own_runtime=started_ray)
            emit(f"\nretraining each arm's best config on {seeds} paired seeds")
            _retrain(results, paired_seeds, base, metric, emit)
        finally:
            shutdown_ray(started_ray)
    paired, verdicts = [], []
    for other in results[1:]:
        stats_row, verdict = paired_verdict(results[0], other, metric, mode)
        paired.append(stats_row)
        verdicts.append(verdict)
    comparison = Comparison(name, metric, mode, axis, paired_seeds, results, paired, verdicts)
    atomic_write_text(root / COMPARISON_FILE, json.dumps(comparison.to_dict(), indent=2, default=str) + "\n")
    return comparison


def _retrain(arms: list[ArmResult], seeds: list[int], base: SweepOptions, metric: str,
             emit: Callable[[str], None]) -> None:  # fmt: skip
    """Each arm's best config from scratch on every paired seed (the same data for all); the
    schedule its first run was given is kept for the report."""
    data = None
    for arm in arms:
        if arm.best_config is None:
            raise ConfigError(f"arm '{arm.arm}' finished no trial; nothing to compare (see its trials.csv)")
        for seed in seeds:
            cfg = TrainConfig(**{**arm.best_config, "seed": seed})
            if data is None:  # prepared shards, when the sweeps made them
                cache = cache_dir_for(base.cache_dir, base.results_dir)
                data = load_train_data(cfg, cache, base.memory_budget, emit)

            def keep(metrics: dict[str, float], checkpoint: TrainCheckpoint, arm: ArmResult = arm) -> None:
                steps = checkpoint.state()["schedule"]
                arm.schedule = {"steps": len(steps["lr"]), "lr": knots_of(steps["lr"]),
                                "momentum": knots_of(steps["momentum"])}  # fmt: skip

            result = train(cfg, data, keep if not arm.schedule else None)
            arm.seed_values.append(float(result.final.get(metric, math.nan)))
            arm.seed_curves.append([float(h.get(metric, math.nan)) for h in result.history])


def _arm_specs(space: SearchSpace, space_path: Path, arms: list[str], axis: str, base: SweepOptions,
               root: Path) -> list[tuple[str, SweepSpec]]:  # fmt: skip
    """Each arm's resolved sweep: the same options (trials, epochs, sampler seed, data); its
    space file written under <comparison>/spaces/. An arm that cannot run stops the
    comparison before any arm has run, and leaves nothing behind."""
    specs = []
    try:
        for arm in arms:
            arm_file = root / "spaces" / f"{arm}.yaml"
            header = f"# arm '{arm}' of comparison {root.name}, derived from {space_path}\n"
            derived = arm_space(space, arm) if axis == "optimizer" else space
            atomic_write_text(arm_file, header + to_yaml(json.loads(derived.model_dump_json())))
            update: dict[str, Any] = {"space": arm_file, "name": f"{root.name}-{arm}"}
            if axis == "method":
                update["sampler"], update["scheduler"] = parse_method(arm, base.sampler)
            try:
                spec = resolve_sweep(base.model_copy(update=update))
                if axis == "method" and spec.options.scheduler not in POPULATION_SCHEDULERS:
                    # the same cost as a population of --trials members that each train every epoch:
                    # as many trials as that many epochs allow (early-stopped ones cost less)
                    budget = base.trials * spec.epochs
                    spec = resolve_sweep(base.model_copy(update={**update, "trials": budget, "epoch_budget": budget}))
                specs.append((arm, spec))
            except ConfigError as exc:
                raise ConfigError(f"arm '{arm}': {exc}") from None
    except ConfigError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return specs


def _run_arms(specs: list[tuple[str, SweepSpec]], parent_id: str | None, emit: Callable[[str], None],
              command: str | None, own_runtime: bool) -> list[ArmResult]:  # fmt: skip
    arms = []
    for arm, spec in specs:
        spec = spec.model_copy(update={"options": spec.options.model_copy(update={"mlflow_parent_run": parent_id})})
        emit(f"\n== arm {arm}: sweep {spec.name} ({spec.options.sampler} + {spec.options.scheduler})")
        outcome = run_sweep(spec, emit=emit, command=command, own_runtime=own_runtime)
        if outcome.interrupted:  # the user stopped the comparison, not one arm: the same budget for each or none
            raise InterruptedRun(f"interrupted in arm '{arm}': the comparison stopped before its other arms and its "
                                 f"paired seeds; the arms' sweeps are kept (resume this one with: "
                                 f"{resume_command(spec)}); compare again under another --name")  # fmt: skip
        best, best_config = outcome.best, outcome.best_config
        arms.append(ArmResult(arm, spec.name, best.number if best else None, best.final if best else None,
                              best_config.model_dump(mode="json") if best_config else None,
                              epochs_trained=sum(r.epochs_run for r in outcome.records),
                              metric=spec.metric))  # fmt: skip
    return arms
