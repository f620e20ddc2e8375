"""`nagexp reproduce`: rerun a trial from its stored config and check it, optionally over
fresh seeds (is the result a lucky seed?)."""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.errors import ConfigError
from nagexp.prepared.modes import load_train_data
from nagexp.prepared.store import cache_dir_for
from nagexp.results.files import read_trials
from nagexp.results.ranking import RANKED_STATES, best_trial
from nagexp.results.records import TrialRecord
from nagexp.space.sampling import trial_seed
from nagexp.training.data import DataBundle
from nagexp.training.trainer import TrainResult, train
from nagexp.user_code import changed_code_warning, make_importable

__all__ = ["Reproduction", "mean_ci95", "reproduce", "trial_to_rerun"]

FRESH_SEED_OFFSET = 1_000_000  # fresh seeds: trial_seed(master, offset + k), never a sweep trial's


@dataclass
class Reproduction:
    trial: int
    metric: str
    epochs: int  # epochs the original trial ran (ASHA may have stopped it)
    original: float
    rerun: float
    exact: bool
    on_cpu: bool
    seed_values: list[float] = field(default_factory=list)
    ci: tuple[float, float, float] | None = None  # mean, low, high (95 %)

    @property
    def lucky(self) -> bool | None:
        """True when the original lies outside the fresh seeds' 95 % interval."""
        if self.ci is None:
            return None
        return not self.ci[1] <= self.original <= self.ci[2]


def mean_ci95(values: list[float]) -> tuple[float, float, float]:
    """Mean and Student-t 95 % interval of the mean."""
    from scipy import stats

    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def trial_to_rerun(sweep_dir: Path, which: str) -> tuple[TrainConfig, TrialRecord, dict[str, Any]]:
    """(config, its record from trials.csv, the plan) for `best` or a trial number."""
    plan_path = sweep_dir / "sweep.json"
    if not plan_path.exists():
        raise ConfigError(f"no sweep at '{sweep_dir}' (sweep.json missing); `nagexp ls` lists the sweeps")
    plan = json.loads(plan_path.read_text())
    metric, mode = plan["objective"]["metric"], plan["objective"]["mode"]
    records = {r.number: r for r in read_trials(sweep_dir / "trials.csv", list(plan["space"]["params"]), metric)}
    if which == "best":
        best = best_trial(records.values(), mode)
        if best is None:
            raise ConfigError(f"sweep '{sweep_dir.name}' has no best trial to reproduce")
        which = str(best.number)
    if not which.isdigit() or int(which) not in records:
        raise ConfigError(f"sweep '{sweep_dir.name}' has no trial '{which}' (trials: 0..{len(records) - 1}, or best)")
    record = records[int(which)]
    if record.state not in RANKED_STATES:
        raise ConfigError(f"trial {which} {record.state} ({record.reason}); only finished trials reproduce")
    cfg = TrainConfig(**{**plan["space"]["fixed"], **record.params, "seed": record.seed})
    return cfg, record, plan


def reproduce(
    sweep_dir: Path,
    which: str = "best",
    seeds: int = 0,
    on_run: Callable[[str, TrainConfig, TrainResult, DataBundle], None] | None = None,
    code_dir: Path | None = None,
    warn: Callable[[str], None] = print,
) -> Reproduction:
    """Rerun the trial with its own seed (for its epochs), then `seeds` fresh seeds. The
    user's code (if the sweep had any) is imported from `code_dir`, by default the folder
    sweep.json recorded; a warning says when its hash is no longer the recorded one."""
    cfg, record, plan = trial_to_rerun(sweep_dir, which)
    if saved := plan.get("user_code"):
        folder = code_dir or Path(saved["dir"])
        if warning := changed_code_warning(saved, folder):
            warn(warning)
        make_importable(folder)
    metric = plan["objective"]["metric"]
    options = plan["options"]
    on_cpu = float(options.get("gpus_per_trial", 0)) == 0 and float(options.get("gpus_per_worker") or 0) == 0
    epochs = record.epochs_run
    run_cfg = cfg.model_copy(update={"device": "cpu"}) if on_cpu else cfg
    cache = cache_dir_for(plan["options"].get("cache_dir"), sweep_dir.parent)
    data, _ = load_train_data(run_cfg, cache, plan["options"].get("memory_budget"), warn)  # once, for every rerun

    def rerun(cfg: TrainConfig, data: Any) -> TrainResult:
        """As the trial trained: one process, or (a data-parallel trial) a Ray Train run of as
        many workers, each with the CPUs it had, so the gradients are summed as they were."""
        if cfg.workers_per_trial == 1:
            return train(cfg, data)
        from nagexp.parallel.placement import WorkerResources
        from nagexp.parallel.train_job import train_data_parallel

        workers = WorkerResources(cfg.workers_per_trial, float(plan["options"].get("cpus_per_worker", 1.0)))
        with tempfile.TemporaryDirectory(prefix="nagexp-reproduce-") as storage:
            return train_data_parallel(cfg, data, workers, Path(storage), say=lambda _: None)

    # the original ran all its epochs under the full-length schedules: rerun those, read epoch `epochs`
    result = rerun(run_cfg, data)
    rerun_value = result.history[min(epochs, len(result.history)) - 1][metric]
    original = float(record.final) if record.final is not None else math.nan
    if on_run:
        on_run(f"trial-{record.number}-rerun", run_cfg, result, data)
    rep = Reproduction(record.number, metric, epochs, original, float(rerun_value),
                       float(rerun_value) == original, on_cpu)  # fmt: skip
    master = int(plan["seeds"]["master"])
    for k in range(seeds):
        seed_cfg = run_cfg.model_copy(update={"seed": trial_seed(master, FRESH_SEED_OFFSET + k)})
        res = rerun(seed_cfg, data)
        rep.seed_values.append(float(res.history[min(epochs, len(res.history)) - 1][metric]))
        if on_run:
            on_run(f"trial-{record.number}-seed-{seed_cfg.seed}", seed_cfg, res, data)
    if rep.seed_values:
        rep.ci = mean_ci95(rep.seed_values)
    return rep
