"""`nagexp reproduce` of a sweep whose trials ran a training function of the user's: the
function is called again here, in this process, with the trial's config (its own seed, then
fresh seeds), and the metric is read at the epoch the trial reached. A population member whose
state passed through other members is replayed stretch by stretch, as its lineage says."""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

from nagexp.config.space_sections import metric_bounds
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.core.seeds import trial_seed
from nagexp.results.plan import SweepPlan
from nagexp.results.records import TrialRecord
from nagexp.results.statistics import seeds_interval
from nagexp.training.lineage import lineage_segments
from nagexp.training.own_trainer import OwnState, run_own_trainer

if TYPE_CHECKING:  # MLflow's side, imported only where a rerun is logged
    from nagexp.tracking.rerun_tracking import OwnRunLogger

__all__ = ["reproduce_own"]




def _ignore(_metrics: dict[str, float], _state: OwnState, _diverged: str | None) -> None:
    return None


def _at(history: list[dict[str, float]], metric: str, epochs: int) -> float:
    return float(history[min(epochs, len(history)) - 1][metric])


def _replayed(record: TrialRecord, required: tuple[str, ...], epochs: int,
              seed: int | None = None) -> list[dict[str, float]]:  # fmt: skip
    """The member's epochs, its state trained again as it was: each stretch under the config of
    the member that trained it, from the state the previous stretch ended with (`seed`: every
    stretch under that seed instead, the same exploits on a fresh draw)."""
    start: OwnState | None = None
    history: list[dict[str, float]] = []
    for _first, end, entry in lineage_segments(record.lineage, epochs):  # type: ignore[arg-type]
        kept: list[OwnState] = []

        def keep(_metrics: dict[str, float], state: OwnState, _diverged: str | None, kept: list = kept) -> None:
            kept[:] = [pickle.loads(pickle.dumps(state))]  # as the sweep saved it: the function goes on with its own

        config = {**entry["config"], **({"seed": seed} if seed is not None else {})}
        history = run_own_trainer(TrainConfig(**config), keep, required, start, until=end)
        if not kept or not kept[-1].has_state:
            raise ConfigError(f"trial {record.number}'s function saved no state with its reports: its lineage "
                              "cannot be replayed")  # fmt: skip
        start = kept[-1]
    return history


Interval = tuple[float, float, float]  # mean, low, high


def reproduce_own(record: TrialRecord, plan: SweepPlan, cfg: TrainConfig, seeds: int, offset: int,
                  on_run: OwnRunLogger | None = None) -> tuple[float, list[float], Interval | None, int]:  # fmt: skip
    """(rerun value, fresh-seed values, their mean and 95 % interval or None, stretches replayed)
    for the trial; each rerun goes to `on_run` as well (MLflow). A member whose state passed
    through others is replayed along its lineage, on its own seed and on each fresh one."""
    required = tuple(o.metric for o in plan.space.objectives)
    epochs, metric = record.epochs_run, plan.metric
    segments = len(lineage_segments(record.lineage, epochs)) if record.lineage else 1  # type: ignore[arg-type]
    until = epochs if 0 < epochs < cfg.epochs else None  # a pruned trial: its epochs, not the rest

    def rerun(seed: int | None) -> list[dict[str, float]]:
        if segments > 1:
            return _replayed(record, required, epochs, seed)
        return run_own_trainer(cfg if seed is None else cfg.model_copy(update={"seed": seed}), _ignore, required,
                               until=until)  # fmt: skip

    history = rerun(None)
    if on_run:
        on_run(f"trial-{record.number}-rerun", cfg, history)
    values = []
    for k in range(seeds):
        seed = trial_seed(plan.seeds.master, offset + k)
        seed_history = rerun(seed)
        values.append(_at(seed_history, metric, epochs))
        if on_run:
            on_run(f"trial-{record.number}-seed-{seed}", cfg.model_copy(update={"seed": seed}), seed_history)
    ci = seeds_interval(values, metric_bounds(metric))
    return _at(history, metric, epochs), values, ci, max(1, segments)
