"""The sweep's Optuna study in <sweep>/optuna.db: where it is, what it optimizes, and
closing what a sweep leaves open."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nagexp.config.sweep import SweepSpec
from nagexp.results.folders import SweepFolder

__all__ = ["PRIOR_TRIALS_ATTR", "check_study", "close_running_trials", "name_objective", "storage_url"]

PRIOR_TRIALS_ATTR = "nagexp.prior_trials"  # the study's user attribute: finished trials a warm start told it first


def storage_url(spec: SweepSpec) -> str:
    return f"sqlite:///{SweepFolder(spec.sweep_dir).optuna_db}"


def name_objective(study: Any, spec: SweepSpec) -> None:
    """Store the objectives' names with the study, so optuna-dashboard and
    `study.trials_dataframe()` show `val_acc`, not "Objective 0"."""
    import warnings

    import optuna

    names = [o.metric for o in spec.space.objectives]
    if study.metric_names != names:
        with warnings.catch_warnings():  # "experimental since 3.2": stable in practice
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


def check_study(spec: SweepSpec) -> None:
    """The sweep's optuna.db opens and holds its study (what a resume continues); ConfigError
    naming the file when it is missing, damaged or holds another study."""
    from nagexp.core.errors import ConfigError

    folder = SweepFolder(spec.sweep_dir)
    path = folder.optuna_db
    if not path.exists():
        if spec.population or not folder.journal.exists():
            return  # a population's study is made when it starts; a sweep with no trial had none yet
        raise ConfigError(f"'{path}' is missing; the sweep cannot resume without its Optuna study: restore it "
                          "from a copy, or start a new sweep")  # fmt: skip
    damaged = f"'{path}' is damaged ({{}}); restore it from a copy, or start a new sweep"
    with path.open("rb") as f:
        if f.read(16) != b"SQLite format 3\x00":  # checked before sqlite opens (and writes) it
            raise ConfigError(damaged.format("not an SQLite database"))
    import optuna

    try:
        storage = optuna.storages.RDBStorage(storage_url(spec), skip_table_creation=True)  # reads only
        optuna.load_study(study_name=spec.name, storage=storage)
    except KeyError:
        raise ConfigError(f"'{path}' holds no study named '{spec.name}'; restore it from a copy, or start a new "
                          "sweep") from None  # fmt: skip
    except Exception as exc:  # sqlalchemy's errors for a database cut short or garbled
        raise ConfigError(damaged.format(type(exc).__name__)) from None


def close_running_trials(spec: SweepSpec, completed: Mapping[int, Sequence[float]] | None = None) -> int:
    """End the Optuna trials left RUNNING once the sweep is over (none are left normally): a
    trial that ran its last epoch as a budget ended the sweep (`completed`: its objectives'
    values by the sweep's trial number) COMPLETE with them, as trials.csv says; the others FAIL."""
    import optuna

    study = optuna.load_study(study_name=spec.name, storage=storage_url(spec))
    first = int(study.user_attrs.get(PRIOR_TRIALS_ATTR, 0))  # a warm start's priors come before trial 0
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for t in running:
        values = (completed or {}).get(t.number - first)
        if values and all(math.isfinite(v) for v in values):
            study.tell(t.number, list(values) if len(values) > 1 else values[0], skip_if_finished=True)
        else:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    return len(running)
