"""Everything a sweep report shows, as plain data read from results/<sweep>/ (no drawing).

Sorted and rounded so the same results always give the same report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.registries.schedulers import POPULATION_SCHEDULERS
from nagexp.registries.trainers import is_builtin_trainer
from nagexp.results.files import ranked_value, read_summary, read_trials
from nagexp.results.folders import SweepFolder
from nagexp.results.plan import SweepPlan, read_plan
from nagexp.results.ranking import best_trial, can_rank, count_states, pareto_front, ranked_trials
from nagexp.results.records import TrialRecord, TrialState, trial_config
from nagexp.results.state import sweep_state
from nagexp.space.rungs import rung_plan

__all__ = ["ReportData", "TrialRow", "collect"]

IMPORTANCE_EVALUATOR = "fANOVA (optuna.importance.FanovaImportanceEvaluator, seed 0)"


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: TrialState
    params: dict[str, Any]
    final: float | None
    best: float | None
    test_acc: float | None
    epochs_run: int
    seconds: float
    seed: int | None
    reason: str
    curve: tuple[float, ...]  # objective per epoch (Optuna's intermediate values)
    exploits: tuple[dict[str, int], ...] = ()  # population-based: after which epoch it copied whom
    schedule: dict[str, Any] | None = None  # population-based: the piecewise schedule of its weights
    lineage: tuple[dict[str, Any], ...] = ()  # population-based: who trained its weights from which epoch, how
    finals: dict[str, float] = field(default_factory=dict)  # every objective metric at its last epoch
    ranked: float | None = None  # pruned, in a sweep ranked on a rung signal: the signal it was stopped on


@dataclass
class ReportData:
    name: str
    metric: str
    mode: str
    plan: SweepPlan
    summary: dict[str, Any]
    trials: list[TrialRow]  # by trial number
    param_names: list[str]
    fixed: dict[str, Any]
    importance: dict[str, float] = field(default_factory=dict)
    importance_note: str = ""
    rungs: list[tuple[int, int]] = field(default_factory=list)  # (epoch, trials that reached it)
    # population-based sweeps: each member's (epoch, lr, momentum) as it reported them
    population: dict[int, list[tuple[int, float, float]]] | None = None  # None: not a population-based sweep
    sweep_dir: Path | None = None  # the folder the report was read from (its rerun commands name it)

    @property
    def own_trainer(self) -> bool:
        """The trials ran a training function of the user's (not nagexp's built-in trainer)."""
        return not is_builtin_trainer(self.plan.space.values_of("trainer")[0])

    @property
    def finished(self) -> list[TrialRow]:
        """Trials with a usable result, by trial number."""
        return [t for t in self.trials if can_rank(t)]

    def front(self) -> list[TrialRow]:
        """Several objectives: the Pareto front, by trial number ([] for one objective)."""
        ranking = self.plan.ranking
        return pareto_front(self.trials, ranking) if ranking.several else []

    def ranked(self) -> list[TrialRow]:
        """By the one ranking rule (nagexp.results.ranking), best first."""
        return ranked_trials(self.trials, self.plan.ranking)

    @property
    def best(self) -> TrialRow | None:
        return best_trial(self.trials, self.plan.ranking)

    def counts(self) -> dict[str, int]:
        counts = count_states(self.trials)
        if not counts[TrialState.RUNNING]:
            counts.pop(TrialState.RUNNING)
        return counts

    def best_so_far(self) -> list[tuple[int, float]]:
        """(trial number, best finished objective up to it)."""
        points, best = [], None
        for t in self.trials:
            if can_rank(t) and t.final is not None:
                better = best is None or (t.final > best if self.mode == "max" else t.final < best)
                best = t.final if better else best
            if best is not None:
                points.append((t.number, best))
        return points

    def config_of(self, trial: TrialRow) -> TrainConfig:
        """The trial's config (the one rule: `results.records.trial_config`)."""
        return trial_config(self.fixed, trial.params, trial.seed, trial.schedule, trial.lineage)

    def by_family(self, param: str) -> list[tuple[str, list[float]]]:
        """Objective values of finished trials grouped by a schedule family."""
        groups: dict[str, list[float]] = {}
        for t in self.finished:
            key = str(t.params.get(param, self.fixed.get(param, "-")))
            groups.setdefault(key, []).append(t.final or 0.0)
        return sorted(groups.items())


def _importance(study: Any, note_params: list[str]) -> tuple[dict[str, float], str]:
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(done) < 2:
        return {}, "too few completed trials for parameter importance"
    several = len(study.directions) > 1  # a multi-objective study: importance for the first objective
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        target = (lambda t: t.values[0]) if several else None
        values = optuna.importance.get_param_importances(study, evaluator=evaluator, target=target)
    except (RuntimeError, ValueError) as exc:
        return {}, f"parameter importance not computed: {exc}"
    note = IMPORTANCE_EVALUATOR + (", for the first objective" if several else "")
    return {k: round(float(v), 4) for k, v in sorted(values.items())}, note


def _rungs(plan: SweepPlan, trials: list[TrialRow]) -> list[tuple[int, int]]:
    if plan.options.scheduler != "asha":
        return []
    max_t = int(plan.space.fixed.get("epochs", 1))
    rungs = [*rung_plan(plan.space, max_t).epochs, max_t]
    return [(r, sum(t.epochs_run >= r for t in trials)) for r in rungs]


def _row(record: TrialRecord, curve: tuple[float, ...]) -> TrialRow:
    return TrialRow(number=record.number, state=record.state, params=record.params, final=record.final,
                    best=record.best, test_acc=record.test_acc, epochs_run=record.epochs_run,
                    seconds=record.seconds, seed=record.seed, reason=record.reason, curve=curve,
                    exploits=tuple(record.exploits), schedule=record.schedule,
                    lineage=tuple(record.lineage or ()), finals=dict(record.finals),
                    ranked=ranked_value(record))  # fmt: skip


def _study(sweep_dir: Path, name: str) -> Any:
    """The sweep's Optuna study, or None when the sweep has no optuna.db; ConfigError naming
    the file when it is damaged."""
    path = SweepFolder(sweep_dir).optuna_db
    if not path.exists():
        return None
    import optuna

    damaged = f"'{path}' is damaged ({{}}); restore it from a copy (the report reads the trials' curves from it)"
    with path.open("rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise ConfigError(damaged.format("not an SQLite database"))
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}", skip_table_creation=True)  # reads only
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise ConfigError(damaged.format(f"no study named '{name}'")) from None
    except Exception as exc:  # sqlalchemy's errors for a database cut short or garbled
        raise ConfigError(damaged.format(type(exc).__name__)) from None
    finally:
        optuna.logging.set_verbosity(verbosity)


def collect(sweep_dir: Path) -> ReportData:
    """Read a finished (or interrupted) sweep's files into report data; ConfigError in one line
    naming a file that is missing or damaged."""
    sweep_dir = Path(sweep_dir)
    folder = SweepFolder(sweep_dir)
    plan = read_plan(sweep_dir)
    finished = sweep_state(sweep_dir) == "finished"
    if finished and not folder.optuna_db.exists():
        raise ConfigError(f"'{folder.optuna_db}' is missing: the sweep ended with it (deleted?); the report "
                          "reads the trials' curves from it: restore it from a copy")  # fmt: skip
    study = _study(sweep_dir, plan.name)
    curves: dict[int, tuple[float, ...]] = {}
    importance, note = {}, "no Optuna study (optuna.db) beside the results"
    if study is not None:
        try:
            curves = {t.number: tuple(round(v, 6) for _, v in sorted(t.intermediate_values.items()))
                      for t in study.trials}  # fmt: skip
        except Exception as exc:  # a database whose tables are damaged reads as a study, then fails
            raise ConfigError(f"'{folder.optuna_db}' is damaged ({type(exc).__name__}); restore it from "
                              "a copy") from None  # fmt: skip
        importance, note = _importance(study, plan.param_names)
    if plan.ranking.several:  # a multi-objective study holds no per-epoch values: the journal does
        curves = _journal_curves(folder.journal, plan.metric, plan.mode)
    records = read_trials(folder.trials_csv, plan.param_names, plan.metric, must_exist=finished)
    trials = [_row(r, curves.get(r.number, ())) for r in records]
    for r in records:  # every finished trial's config rebuilds (the figures and tables draw them)
        if can_rank(r):
            try:
                r.train_config(plan.space.fixed)
            except ConfigError as exc:
                raise ConfigError(f"'{folder.trials_csv}' is damaged (trial {r.number}: {exc}); restore it "
                                  "from a copy") from None  # fmt: skip
    data = ReportData(plan.name, plan.metric, plan.mode, plan, read_summary(sweep_dir), trials, plan.param_names,
                      dict(plan.space.fixed), importance, note)  # fmt: skip
    data.rungs = _rungs(plan, trials)
    data.sweep_dir = sweep_dir.resolve()
    if plan.options.scheduler in POPULATION_SCHEDULERS:
        data.population = _population(folder.journal, plan.metric, plan.mode)
    return data


def _journal_curves(journal: Path, metric: str, mode: str) -> dict[int, tuple[float, ...]]:
    from nagexp.results.journal import replay

    if not journal.exists():
        return {}
    return {n: tuple(round(float(h[metric]), 6) for h in r.history if metric in h)
            for n, r in replay(journal, metric, mode).items()}  # fmt: skip


def _population(journal: Path, metric: str, mode: str) -> dict[int, list[tuple[int, float, float]]]:
    from nagexp.results.journal import replay

    points = {n: [(int(h["epoch"]), float(h["lr"]), float(h["momentum"])) for h in r.history
                  if "lr" in h and "momentum" in h]
              for n, r in sorted(replay(journal, metric, mode).items())}  # fmt: skip
    return {n: p for n, p in points.items() if p}  # a training function of the user's reports no lr
