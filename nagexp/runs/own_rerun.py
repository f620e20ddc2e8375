"""`nagexp reproduce` of a sweep whose trials ran a training function of the user's: the
function is called again here, in this process, with the trial's config (its own seed, then
fresh seeds), and the metric is read at the epoch the trial reached. A population member whose
state passed through other members is replayed stretch by stretch, as its lineage says."""

from __future__ import annotations

import pickle
from collections.abc import Callable

from nagexp.config.space_sections import metric_bounds
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.core.seeds import trial_seed
from nagexp.results.plan import SweepPlan
from nagexp.results.records import TrialRecord
from nagexp.results.statistics import mean_ci95
from nagexp.training.lineage import lineage_segments
from nagexp.training.own_trainer import OwnState, run_own_trainer

__all__ = ["reproduce_own"]


OwnRunLogger = Callable[[str, TrainConfig, list[dict[str, float]]], None]  # name, config, epochs: to MLflow


def _ignore(_metrics: dict[str, float], _state: OwnState, _diverged: str | None) -> None:
    return None


def _at(history: list[dict[str, float]], metric: str, epochs: int) -> float:
    return float(history[min(epochs, len(history)) - 1][metric])


def _replayed(record: TrialRecord, required: tuple[str, ...], epochs: int) -> list[dict[str, float]]:
    """The member's epochs, its state trained again as it was: each stretch under the config of
    the member that trained it, from the state the previous stretch ended with."""
    start: OwnState | None = None
    history: list[dict[str, float]] = []
    for _first, end, entry in lineage_segments(record.lineage, epochs):  # type: ignore[arg-type]
        kept: list[OwnState] = []

        def keep(_metrics: dict[str, float], state: OwnState, _diverged: str | None, kept: list = kept) -> None:
            kept[:] = [pickle.loads(pickle.dumps(state))]  # as the sweep saved it: the function goes on with its own

        history = run_own_trainer(TrainConfig(**entry["config"]), keep, required, start, until=end)
        if not kept or not kept[-1].has_state:
            raise ConfigError(f"trial {record.number}'s function saved no state with its reports: its lineage "
                              "cannot be replayed")  # fmt: skip
        start = kept[-1]
    return history


Interval = tuple[float, float, float]  # mean, low, high


def reproduce_own(record: TrialRecord, plan: SweepPlan, cfg: TrainConfig, seeds: int, offset: int,
                  on_run: OwnRunLogger | None = None) -> tuple[float, list[float], Interval | None]:  # fmt: skip
    """(rerun value, fresh-seed values, their mean and 95 % interval or None) for the trial;
    each rerun goes to `on_run` as well (MLflow)."""
    required = tuple(o.metric for o in plan.space.objectives)
    epochs, metric = record.epochs_run, plan.metric
    if record.lineage and len(lineage_segments(record.lineage, epochs)) > 1:  # type: ignore[arg-type]
        history = _replayed(record, required, epochs)
    else:
        history = run_own_trainer(cfg, _ignore, required)
    if on_run:
        on_run(f"trial-{record.number}-rerun", cfg, history)
    values = []
    for k in range(seeds):
        seed_cfg = cfg.model_copy(update={"seed": trial_seed(plan.seeds.master, offset + k)})
        seed_history = run_own_trainer(seed_cfg, _ignore, required)
        values.append(_at(seed_history, metric, epochs))
        if on_run:
            on_run(f"trial-{record.number}-seed-{seed_cfg.seed}", seed_cfg, seed_history)
    ci = mean_ci95(values, metric_bounds(metric)) if values else None
    return _at(history, metric, epochs), values, ci
