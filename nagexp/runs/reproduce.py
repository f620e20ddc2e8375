"""`nagexp reproduce`: rerun a trial from its stored config and check it, optionally over
fresh seeds (is the result a lucky seed?).

A population (PBT / PB2) member's final weights are a lineage: a donor's epochs under the
donor's seed, data order and config, then its own. Its rerun replays that lineage segment by
segment, each under the schedule the weights were trained under, and so matches exactly on
CPU. (best.yaml holds the schedule-only replay from scratch, which `nagexp train` runs: the
member's own config under the whole schedule, a different run.)"""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nagexp.config.resources import WorkerResources
from nagexp.config.space_sections import metric_bounds
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.core.provenance import VERSIONS_KERNELS_KEY, kernels_hint
from nagexp.core.seeds import trial_seed
from nagexp.data.batches import TrainData
from nagexp.registries.trainers import is_builtin_trainer
from nagexp.results.files import read_trials
from nagexp.results.folders import SweepFolder
from nagexp.results.plan import SweepPlan, read_plan
from nagexp.results.ranking import best_trial, can_rank
from nagexp.results.records import TrialRecord
from nagexp.results.statistics import seeds_interval
from nagexp.runtime.recorded_code import import_recorded_code
from nagexp.training.checkpoint import CheckpointState, TrainCheckpoint
from nagexp.training.lineage import lineage_segments
from nagexp.training.trainer import TrainResult, train

if TYPE_CHECKING:  # MLflow's side, imported only where a rerun is logged
    from nagexp.tracking.rerun_tracking import OwnRunLogger

__all__ = ["Reproduction", "reproduce", "trial_to_rerun"]

FRESH_SEED_OFFSET = 1_000_000  # fresh seeds: trial_seed(master, offset + k), never a sweep trial's
RunLogger = Callable[[str, TrainConfig, TrainResult, TrainData], None]


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
    ci: tuple[float, float, float] | None = None  # mean, low, high (95 %) of two fresh seeds or more
    segments: int = 1  # stretches of training replayed (a population member's lineage)
    other_kernels: str | None = None  # a CPU rerun that differs: the trial's CPU kernels were others
    mode: str = "max"  # the objective's direction: which side of the fresh seeds' interval is the better

    @property
    def seed_luck(self) -> str | None:
        """Where the original lies against the fresh seeds' 95 % interval: "typical" inside it,
        "lucky" beyond its better end, "unlucky" beyond its worse end; None with fewer than two
        fresh seeds (one gives no interval)."""
        if self.ci is None:
            return None
        _, low, high = self.ci
        if low <= self.original <= high:
            return "typical"
        above = self.original > high
        return "lucky" if above == (self.mode == "max") else "unlucky"


def trial_to_rerun(sweep_dir: Path, which: str) -> tuple[TrialRecord, SweepPlan]:
    """(its record from trials.csv, the plan) for `best` or a trial number."""
    plan = read_plan(sweep_dir)
    trials_csv = SweepFolder(sweep_dir).trials_csv
    trials = read_trials(trials_csv, plan.param_names, plan.metric, must_exist=True)
    records = {r.number: r for r in trials}
    if which == "best":
        best = best_trial(records.values(), plan.ranking)
        if best is None:
            raise ConfigError(f"sweep '{sweep_dir.name}' has no best trial to reproduce: no trial has a result "
                              f"(each diverged, errored or ran no epoch; {trials_csv} gives why)")  # fmt: skip
        which = str(best.number)
    if not which.isdigit() or int(which) not in records:
        raise ConfigError(f"sweep '{sweep_dir.name}' has no trial '{which}' (trials: 0..{len(records) - 1}, or best)")
    record = records[int(which)]
    if not can_rank(record):
        raise ConfigError(f"trial {which} {record.state} ({record.reason}); only a trial with a result reproduces "
                          "(completed, or pruned after an epoch)")  # fmt: skip
    try:
        record.train_config(plan.space.fixed)
    except ConfigError as exc:
        raise ConfigError(f"'{trials_csv}' is damaged (trial {which}: {exc}); restore it from a "
                          "copy") from None  # fmt: skip
    if record.exploits and not record.lineage:
        raise ConfigError(f"trial {which} copied another member's weights, and its sweep (an older nagexp) "
                          "recorded no lineage to replay; `nagexp train` its best.yaml replays its schedule from "
                          "scratch instead")  # fmt: skip
    return record, plan


def reproduce(
    sweep_dir: Path,
    which: str = "best",
    seeds: int = 0,
    on_run: RunLogger | None = None,
    code_dir: Path | None = None,
    warn: Callable[[str], None] = print,
    on_own_run: OwnRunLogger | None = None,
) -> Reproduction:
    """Rerun the trial with its own seed (for its epochs), then `seeds` fresh seeds. The
    user's code (if the sweep had any) is imported from `code_dir`, by default the folder
    sweep.json recorded, or where that is gone (a job's copy of its working_dir, which Ray
    deletes), the working_dir of the `ray job submit --working-dir` job this runs in; a warning
    says when its hash is no longer the recorded one."""
    from nagexp.core.process_settings import restored_process_settings
    from nagexp.data.loading import load_train_data
    from nagexp.data.prepared.store import cache_dir_for
    from nagexp.runtime.ray_session import connect_ray, ray_settings, shutdown_ray

    record, plan = trial_to_rerun(sweep_dir, which)
    import_recorded_code(plan.user_code, code_dir, warn)
    o = plan.options
    on_cpu = o.gpus_per_trial == 0 and o.gpus_per_worker == 0
    cfg = record.train_config(plan.space.fixed)
    run_cfg = cfg.model_copy(update={"device": "cpu"}) if on_cpu else cfg
    if not is_builtin_trainer(cfg.trainer):  # a function of the user's: called again here, no data of nagexp's
        rep = _reproduce_own(record, plan, cfg, seeds, on_cpu, on_own_run)
    else:
        with restored_process_settings(), ray_settings():
            cache = cache_dir_for(o.cache_dir, sweep_dir.parent)
            data = load_train_data(run_cfg, cache, o.memory_budget, warn)  # once, for every rerun
            started = connect_ray(None) if data.mode == "stream" else False  # stream mode reads through Ray Data
            try:
                rep = _reproduce(record, plan, run_cfg, data, seeds, on_run, on_cpu)
            finally:
                shutdown_ray(started)
    if on_cpu and not rep.exact:  # the trial's own kernels; a sweep from before they were recorded: its driver's
        rep.other_kernels = kernels_hint(record.cpu_kernels or plan.versions.get(VERSIONS_KERNELS_KEY))
    return rep


def _reproduce(record: TrialRecord, plan: SweepPlan, run_cfg: TrainConfig, data: TrainData, seeds: int,
               on_run: RunLogger | None, on_cpu: bool) -> Reproduction:  # fmt: skip
    metric, epochs = plan.metric, record.epochs_run
    segments = lineage_segments(record.lineage, epochs) if record.lineage else []
    if len(segments) > 1:  # a population member whose weights passed through other members
        result = _replay_lineage(record, segments, data, on_cpu)
    else:
        # the original ran all its epochs under the full-length schedules: rerun those, read epoch `epochs`
        result = _rerun(run_cfg, data, plan.options.cpus_per_worker)
    rerun_value = float(result.history[min(epochs, len(result.history)) - 1][metric])
    original = float(record.final) if record.final is not None else math.nan
    if on_run:
        on_run(f"trial-{record.number}-rerun", run_cfg, result, data)
    rep = Reproduction(record.number, metric, epochs, original, rerun_value, rerun_value == original, on_cpu,
                       segments=max(1, len(segments)), mode=plan.mode)  # fmt: skip
    for k in range(seeds):  # fresh seeds of the trial's config (a member's: its schedule from scratch)
        seed_cfg = run_cfg.model_copy(update={"seed": trial_seed(plan.seeds.master, FRESH_SEED_OFFSET + k)})
        res = _rerun(seed_cfg, data, plan.options.cpus_per_worker)
        rep.seed_values.append(float(res.history[min(epochs, len(res.history)) - 1][metric]))
        if on_run:
            on_run(f"trial-{record.number}-seed-{seed_cfg.seed}", seed_cfg, res, data)
    rep.ci = seeds_interval(rep.seed_values, metric_bounds(metric))
    return rep


def _reproduce_own(record: TrialRecord, plan: SweepPlan, cfg: TrainConfig, seeds: int, on_cpu: bool,
                   on_run: OwnRunLogger | None) -> Reproduction:  # fmt: skip
    from nagexp.runs.own_rerun import reproduce_own

    rerun, values, ci, segments = reproduce_own(record, plan, cfg, seeds, FRESH_SEED_OFFSET, on_run)
    original = float(record.final) if record.final is not None else math.nan
    return Reproduction(record.number, plan.metric, record.epochs_run, original, rerun, rerun == original, on_cpu,
                        seed_values=values, ci=ci, segments=segments, mode=plan.mode)  # fmt: skip


def _rerun(cfg: TrainConfig, data: TrainData, cpus_per_worker: float) -> TrainResult:
    """As the trial trained: one process, or (a data-parallel trial) a Ray Train run of as
    many workers, each with the CPUs it had, so the gradients are summed as they were."""
    if cfg.workers_per_trial == 1:
        return train(cfg, data)
    from nagexp.parallel.train_job import train_data_parallel

    workers = WorkerResources(cfg.workers_per_trial, cpus_per_worker)
    with tempfile.TemporaryDirectory(prefix="nagexp-reproduce-") as storage:
        return train_data_parallel(cfg, data, workers, Path(storage), say=lambda _: None)


def _replay_lineage(record: TrialRecord, segments: list, data: TrainData, on_cpu: bool) -> TrainResult:
    """The member's final weights trained again as they were: each stretch under the config of
    the member that trained it (its seed, its data order), the weights' own schedule step by
    step, from the previous stretch's state (weights, velocity, generator)."""
    schedule = record.schedule or {}
    state: CheckpointState | None = None
    result: TrainResult | None = None
    for _first, end, entry in segments:
        if "config" not in entry:
            raise ConfigError(f"trial {record.number}'s lineage has no configs (a sweep of an older nagexp): it "
                              "cannot be replayed; `nagexp train` its best.yaml replays its schedule instead")
        values = {**entry["config"], **schedule, "epochs": end} | ({"device": "cpu"} if on_cpu else {})
        cfg = TrainConfig(**values)
        kept: list[CheckpointState] = []

        def keep(metrics: dict[str, float], checkpoint: TrainCheckpoint, kept: list = kept) -> None:
            kept[:] = [copy.deepcopy(checkpoint.state())]  # the live tensors move on with training

        result = train(cfg, data, keep, resume=state, label=entry["label"])
        state = kept[-1]
    assert result is not None
    return result
