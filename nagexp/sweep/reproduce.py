"""`nagexp reproduce`: rerun a trial from its stored config and check it, optionally over
fresh seeds (is the result a lucky seed?)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.errors import ConfigError
from nagexp.space.define_by_run import trial_seed
from nagexp.sweep.records import read_trials_csv
from nagexp.train.data import DataBundle, load_dataset_for
from nagexp.train.trainer import TrainResult, train

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


def trial_to_rerun(sweep_dir: Path, which: str) -> tuple[TrainConfig, dict[str, str], dict[str, Any]]:
    """(config, its trials.csv row, the plan) for `best` or a trial number."""
    plan_path = sweep_dir / "sweep.json"
    if not plan_path.exists():
        raise ConfigError(f"no sweep at '{sweep_dir}' (sweep.json missing); `nagexp ls` lists the sweeps")
    plan = json.loads(plan_path.read_text())
    table = sweep_dir / "trials.csv"
    rows = {r["number"]: r for r in read_trials_csv(table)} if table.exists() else {}
    if which == "best":
        summary = json.loads((sweep_dir / "summary.json").read_text()) if (sweep_dir / "summary.json").exists() else {}
        if summary.get("best_trial") is None:
            raise ConfigError(f"sweep '{sweep_dir.name}' has no best trial to reproduce")
        which = str(summary["best_trial"])
    if which not in rows:
        raise ConfigError(f"sweep '{sweep_dir.name}' has no trial '{which}' (trials: 0..{len(rows) - 1}, or best)")
    row = rows[which]
    if row["state"] not in ("completed", "pruned"):
        raise ConfigError(f"trial {which} {row['state']} ({row['reason']}); only finished trials reproduce")
    params = {p: _typed(row[p]) for p in plan["space"]["params"] if row.get(p, "") != ""}
    cfg = TrainConfig(**{**plan["space"]["fixed"], **params, "seed": int(row["seed"])})
    return cfg, row, plan


def _typed(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return {"True": True, "False": False}.get(value, value)


def reproduce(
    sweep_dir: Path,
    which: str = "best",
    seeds: int = 0,
    on_run: Callable[[str, TrainConfig, TrainResult, DataBundle], None] | None = None,
) -> Reproduction:
    """Rerun the trial with its own seed (for its epochs), then `seeds` fresh seeds."""
    cfg, row, plan = trial_to_rerun(sweep_dir, which)
    metric = plan["objective"]["metric"]
    on_cpu = float(plan["options"].get("gpus_per_trial", 0)) == 0
    epochs = int(row["epochs_run"])
    run_cfg = cfg.model_copy(update={"device": "cpu"}) if on_cpu else cfg
    data = load_dataset_for(run_cfg)  # once, for every rerun

    # the original ran all its epochs under the full-length schedules: rerun those, read epoch `epochs`
    result = train(run_cfg, data)
    rerun_value = result.history[min(epochs, len(result.history)) - 1][metric]
    original = float(row[f"final_{metric}"])
    if on_run:
        on_run(f"trial-{row['number']}-rerun", run_cfg, result, data)
    rep = Reproduction(int(row["number"]), metric, epochs, original, float(rerun_value),
                       float(rerun_value) == original, on_cpu)  # fmt: skip
    master = int(plan["seeds"]["master"])
    for k in range(seeds):
        seed_cfg = run_cfg.model_copy(update={"seed": trial_seed(master, FRESH_SEED_OFFSET + k)})
        res = train(seed_cfg, data)
        rep.seed_values.append(float(res.history[min(epochs, len(res.history)) - 1][metric]))
        if on_run:
            on_run(f"trial-{row['number']}-seed-{seed_cfg.seed}", seed_cfg, res, data)
    if rep.seed_values:
        rep.ci = mean_ci95(rep.seed_values)
    return rep
