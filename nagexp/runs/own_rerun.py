"""`nagexp reproduce` of a sweep whose trials ran a training function of the user's: the
function is called again here, in this process, with the trial's config (its own seed, then
fresh seeds), and the metric is read at the epoch the trial reached."""

from __future__ import annotations

from nagexp.config.space_sections import metric_bounds
from nagexp.config.train import TrainConfig
from nagexp.core.seeds import trial_seed
from nagexp.results.plan import SweepPlan
from nagexp.results.records import TrialRecord
from nagexp.results.statistics import mean_ci95
from nagexp.training.own_trainer import OwnState, run_own_trainer

__all__ = ["reproduce_own"]


def _metric_at(cfg: TrainConfig, metric: str, required: tuple[str, ...], epochs: int) -> float:
    def ignore(_metrics: dict[str, float], _state: OwnState, _diverged: str | None) -> None:
        return None

    history = run_own_trainer(cfg, ignore, required)
    return float(history[min(epochs, len(history)) - 1][metric])


def reproduce_own(record: TrialRecord, plan: SweepPlan, cfg: TrainConfig, seeds: int,
                  offset: int) -> tuple[float, list[float], tuple[float, float, float] | None]:  # fmt: skip
    """(rerun value, fresh-seed values, their mean and 95 % interval or None) for the trial."""
    required = tuple(o.metric for o in plan.space.objectives)
    epochs, metric = record.epochs_run, plan.metric
    rerun = _metric_at(cfg, metric, required, epochs)
    values = [_metric_at(cfg.model_copy(update={"seed": trial_seed(plan.seeds.master, offset + k)}), metric,
                         required, epochs) for k in range(seeds)]  # fmt: skip
    ci = mean_ci95(values, metric_bounds(metric)) if values else None
    return rerun, values, ci
