"""The sweep's Optuna study in <sweep>/optuna.db: where it is, what it optimizes, and
closing what a sweep leaves open."""

from __future__ import annotations

from typing import Any

from nagexp.config.sweep import SweepSpec

__all__ = ["close_running_trials", "name_objective", "storage_url"]


def storage_url(spec: SweepSpec) -> str:
    return f"sqlite:///{spec.sweep_dir / 'optuna.db'}"


def name_objective(study: Any, spec: SweepSpec) -> None:
    """Store the objective's name with the study, so optuna-dashboard and
    `study.trials_dataframe()` show `val_acc`, not "Objective 0"."""
    import warnings

    import optuna

    if study.metric_names != [spec.metric]:
        with warnings.catch_warnings():  # "experimental since 3.2": stable in practice
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([spec.metric])


def close_running_trials(spec: SweepSpec) -> int:
    """Fail the Optuna trials left RUNNING once the sweep is over (none are left normally)."""
    import optuna

    study = optuna.load_study(study_name=spec.name, storage=storage_url(spec))
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for t in running:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    return len(running)
