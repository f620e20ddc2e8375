"""How a sweep ended: its records, the best trial (by the one ranking rule), and the files
written at the end (trials.csv, best.yaml, summary.json)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nagexp.config.sweep import SweepSpec
from nagexp.config.train import TrainConfig
from nagexp.results.files import write_best_yaml, write_summary, write_trials_csv
from nagexp.results.folders import SweepFolder
from nagexp.results.ranking import Ranking, best_trial, count_states, pareto_front
from nagexp.results.records import TrialRecord

__all__ = ["SweepOutcome", "summary_dict", "write_outcome", "write_summary_of"]


@dataclass
class SweepOutcome:
    spec: SweepSpec
    records: list[TrialRecord]
    best: TrialRecord | None
    seconds: float
    interrupted: bool = False
    mlflow: dict[str, Any] | None = None  # where the sweep's runs are, when tracked

    @property
    def counts(self) -> dict[str, int]:
        return count_states(self.records)

    @property
    def best_config(self) -> TrainConfig | None:
        """The best trial's config (what best.yaml holds)."""
        return self.best.train_config(self.spec.space.fixed) if self.best else None

    @property
    def succeeded(self) -> bool:
        """At least one trial gave a usable result (ran all epochs, or was stopped early)."""
        return self.best is not None


def summary_dict(outcome: SweepOutcome) -> dict[str, Any]:
    """summary.json: how the sweep ended, and where its MLflow runs are."""
    spec, best = outcome.spec, outcome.best
    ranking = Ranking.of(spec.space, spec.options.pick)
    several: dict[str, Any] = {}
    if ranking.several:  # the objectives, the pick rule and the trials on the Pareto front
        pairs = zip(ranking.metrics, ranking.modes, strict=True)
        several = {"objectives": [{"metric": m, "mode": d} for m, d in pairs], "pick": ranking.pick,
                   "pareto_front": [t.number for t in pareto_front(outcome.records, ranking)]}  # fmt: skip
    return {
        "name": spec.name,
        "state": "interrupted" if outcome.interrupted else "finished",
        "trials_planned": spec.options.trials,
        "counts": outcome.counts,
        "metric": spec.metric,
        "mode": spec.mode,
        "best_trial": best.number if best else None,
        "best_value": best.final if best else None,
        "best_test_acc": best.test_acc if best else None,
        **several,
        "seconds": round(outcome.seconds, 2),
        "mlflow": outcome.mlflow,
    }


def write_outcome(
    spec: SweepSpec,
    records: list[TrialRecord],
    seconds: float,
    interrupted: bool,
    user_code: dict[str, Any] | None = None,
) -> SweepOutcome:
    """trials.csv and best.yaml (with the user's code record and the data cache given, when
    there are); summary.json is written last, by `write_summary_of`."""
    from nagexp.config.loading import rerun_extras
    from nagexp.data.prepared.store import given_cache

    ranking = Ranking.of(spec.space, spec.options.pick)
    folder = SweepFolder(spec.sweep_dir)
    write_trials_csv(folder.trials_csv, records, list(spec.space.params), spec.metric, ranking)
    best = best_trial(records, ranking)
    if best is not None:
        cache = given_cache(spec.options.cache_dir, spec.results_dir)
        write_best_yaml(folder.best_yaml, best, spec.metric, spec.space.fixed,
                        rerun_extras(user_code, cache, best.cpu_kernels))  # fmt: skip
    return SweepOutcome(spec, records, best, seconds, interrupted)


def write_summary_of(outcome: SweepOutcome) -> None:
    write_summary(SweepFolder(outcome.spec.sweep_dir).summary, summary_dict(outcome))
