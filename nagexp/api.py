"""The Python API: `nagexp.sweep(...)` and `nagexp.train(...)`, the code path the CLI takes.

A notebook gets the same results folder, files and MLflow runs as `nagexp sweep` and
`nagexp train`; the CLI commands only turn their options into these calls and print.
Importing this module loads no torch, Ray, Optuna or MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nagexp.core.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from nagexp.config.sweep import SweepSpec
    from nagexp.config.train import TrainConfig
    from nagexp.results.comparison import Comparison
    from nagexp.results.records import TrialRecord
    from nagexp.runs.reproduce import Reproduction
    from nagexp.runs.train_run import TrainRun
    from nagexp.sweeps.outcome import SweepOutcome

__all__ = ["ComparisonResult", "SweepResult", "compare", "publish_sweep_report", "reproduce", "resolve_spec", "sweep",
           "train"]

Echo = Callable[[str], None]


@dataclass
class SweepResult:
    """How a sweep ended, and where everything it wrote is."""

    name: str
    sweep_dir: Path  # sweep.json, trials.csv, best.yaml, summary.json, optuna.db, ray/
    best: TrialRecord | None  # by the one ranking rule (completed before pruned, better final value)
    best_config: TrainConfig | None  # the best trial's full config: `nagexp.train(result.best_config)`
    counts: dict[str, int]  # trials per state
    seconds: float
    interrupted: bool
    mlflow_run_id: str | None  # the sweep's parent run (None without tracking)
    tracking_uri: str | None
    outcome: SweepOutcome

    @property
    def trials(self) -> pd.DataFrame:
        """trials.csv as a DataFrame: one row per trial (number, state, params, metrics)."""
        import pandas as pd

        return pd.read_csv(self.trials_csv)

    @property
    def trials_csv(self) -> Path:
        from nagexp.results.folders import SweepFolder

        return SweepFolder(self.sweep_dir).trials_csv

    @property
    def best_yaml(self) -> Path:
        from nagexp.results.folders import SweepFolder

        return SweepFolder(self.sweep_dir).best_yaml


def resolve_spec(space: str | Path | None = None, resume: str | Path | None = None, **options: Any) -> SweepSpec:
    """The checked plan of a sweep (what `--dry-run` prints), or of the sweep `resume` names
    (its name in `results_dir`, or its folder)."""
    from nagexp.config.loading import validated
    from nagexp.config.sweep import DEFAULT_SPACE, SweepOptions
    from nagexp.sweeps.spec import check_combinations, resolve_sweep

    if resume is not None:
        from nagexp.sweeps.resume import check_resume_options, load_resume_spec

        check_resume_options([*options, *(["space"] if space is not None else [])])
        code_dir = options.get("code_dir")
        return load_resume_spec(resume, Path(options.get("results_dir", "results")), options.get("address"),
                                options.get("tracking_uri"), Path(code_dir) if code_dir else None)  # fmt: skip
    checked = validated(SweepOptions, {"space": space or DEFAULT_SPACE, **options})
    spec = resolve_sweep(checked)
    check_combinations(spec, given=options)
    return spec


def sweep(
    space: str | Path | None = None,
    *,
    resume: str | Path | None = None,
    report: bool = False,
    echo: Echo | None = print,
    command: str | None = None,
    **options: Any,
) -> SweepResult:
    """Run a sweep: Optuna proposes schedules, Ray Tune runs the trials, MLflow logs them.

    `space`: a search-space YAML (a shipped one by file name, e.g. "quick.yaml"; default
    nag_default.yaml). `options` are the fields of `SweepOptions` (`nagexp.config.sweep`), named
    like the CLI's options (trials, epochs, seed, sampler, scheduler, rung_signal, epoch_budget,
    workers_per_trial, results_dir, track, ...; see `nagexp sweep --help`); a misspelt or invalid one
    is a ConfigError naming it. `resume`: continue the interrupted sweep of that name (only
    results_dir, address, tracking_uri and code_dir may be given; a sweep's folder works too). `report`:
    build the HTML/Markdown report at the end. `echo`: where progress lines go (None: nowhere).
    `command`: recorded in sweep.json as how the sweep was started.

    Raises NagexpError (ConfigError, DataError) with a one-line message for bad input.
    """
    from nagexp.core.process_settings import restored_process_settings

    with restored_process_settings():  # a notebook's settings as they were, the report's MLflow calls too
        return _sweep(space, resume, report, echo, command, options)


def _sweep(space: str | Path | None, resume: str | Path | None, report: bool, echo: Echo | None,
           command: str | None, options: dict[str, Any]) -> SweepResult:  # fmt: skip
    from nagexp.sweeps.header import sweep_header
    from nagexp.sweeps.runner import run_sweep

    say: Echo = echo or (lambda _line: None)
    spec = resolve_spec(space, resume, **options)
    for line in sweep_header(spec):
        say(line)
    outcome = run_sweep(spec, emit=say, resume=resume is not None, command=command or _python_call(space, options))
    result = _result_of(outcome)
    if report:
        publish_sweep_report(result, say=say, warn=say)
    return result


def publish_sweep_report(result: SweepResult, say: Echo = print, warn: Echo = print) -> list[Path]:
    """A finished sweep's report (HTML and Markdown), attached to its MLflow run when tracked:
    what `report=True` and `nagexp sweep --report` do. Nothing for an interrupted sweep."""
    from nagexp.report.build import publish_report

    if result.interrupted:
        return []
    o = result.outcome.spec.options
    return publish_report(result.sweep_dir, "both", o.tracking_uri if o.track else None, o.results_dir, say=say,
                          warn=warn, code_dir=o.code_dir)  # fmt: skip


def _result_of(outcome: SweepOutcome) -> SweepResult:
    mlflow = outcome.mlflow or {}
    return SweepResult(name=outcome.spec.name, sweep_dir=outcome.spec.sweep_dir, best=outcome.best,
                       best_config=outcome.best_config, counts=outcome.counts, seconds=outcome.seconds,
                       interrupted=outcome.interrupted, mlflow_run_id=mlflow.get("parent_run_id"),
                       tracking_uri=mlflow.get("tracking_uri"), outcome=outcome)  # fmt: skip


def _python_call(space: str | Path | None, options: dict[str, Any]) -> str:
    """How a sweep started from Python is recorded in sweep.json."""
    args = ([repr(str(space))] if space is not None else []) + [f"{k}={v!r}" for k, v in options.items()]
    return f"nagexp.sweep({', '.join(args)})"


def train(
    config: TrainConfig | dict[str, Any] | str | Path | None = None,
    *,
    results_dir: str | Path = "results",
    name: str | None = None,
    track: bool = True,
    experiment: str = "nagexp",
    tracking_uri: str | None = None,
    code_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    memory_budget: str | None = None,
    echo: Echo | None = print,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    address: str | None = None,
    **overrides: Any,
) -> TrainRun:
    """Train one model and write <results_dir>/train/<name>/ (config.yaml, metrics.csv,
    model.pt, summary.json), logged to MLflow unless `track=False`.

    `config`: a TrainConfig, a mapping of its fields, or a YAML file (a sweep's best.yaml);
    `overrides` are TrainConfig fields that win over it (`model_args.depth=4` works too).
    `code_dir`: the folder of your own model/dataset code (default: the current directory).
    `cache_dir`: where datasets read from files are prepared once (default: the cache a saved
    config records, given to its sweep or run; else results_dir/data-cache).
    `memory_budget`: with data_mode auto, memory mode when the data fits it (e.g. "4GB").
    `workers_per_trial=K` (> 1): one Ray Train run of K workers with `cpus_per_worker` and
    `gpus_per_worker` each, on the cluster at `address` (or $RAY_ADDRESS), else Ray started here.
    Returns the run: `.result` (model, history, test_acc), `.out_dir`, `.mlflow_run_id`.
    """
    from nagexp.config.loading import load_train_config, train_config_from
    from nagexp.config.train import TrainConfig
    from nagexp.runs.saved_config import note_saved_config
    from nagexp.runs.train_run import TrainRunOptions, run_training
    from nagexp.tracking.store import resolve_store

    say: Echo = echo or (lambda _line: None)
    if isinstance(config, TrainConfig):
        cfg = train_config_from({**config.model_dump(), **overrides})
    elif isinstance(config, dict):
        cfg = train_config_from({**config, **overrides})
    else:
        cfg = load_train_config(config, overrides)
        if config is not None:
            cache_dir = note_saved_config(Path(config), cfg, code_dir, cache_dir, say)
    store = resolve_store(tracking_uri, Path(results_dir), experiment) if track else None
    options = TrainRunOptions(results_dir=Path(results_dir), name=name, tracking=store,
                              code_dir=Path(code_dir) if code_dir else None, cache_dir=cache_dir,
                              memory_budget=memory_budget, cpus_per_worker=cpus_per_worker,
                              gpus_per_worker=gpus_per_worker, address=address)  # fmt: skip
    return run_training(cfg, options, on_epoch=on_epoch, on_data=lambda d: say(d.report.summary()), say=say)


def reproduce(
    sweep: str | Path,
    trial: str = "best",
    seeds: int = 0,
    *,
    results_dir: str | Path = "results",
    track: bool = True,
    tracking_uri: str | None = None,
    code_dir: str | Path | None = None,
    echo: Echo | None = print,
) -> Reproduction:
    """Rerun a sweep's trial (`best` or a number) from its stored config with its own seed, and
    on `seeds` fresh seeds (mean and 95 % interval: was the original a lucky seed?); logged
    under the sweep's MLflow run unless `track=False`. What `nagexp reproduce` runs."""
    from nagexp.results.folders import sweep_dir_of
    from nagexp.runs.reproduce import reproduce as rerun

    if seeds < 0:
        raise ConfigError(f"--seeds must be >= 0 (got {seeds})")
    say: Echo = echo or (lambda _line: None)
    results = Path(results_dir)
    sweep_dir = sweep_dir_of(str(sweep), results)
    log = own_log = None
    if track:
        from nagexp.tracking.rerun_tracking import rerun_loggers

        log, own_log = rerun_loggers(sweep_dir, results, tracking_uri, warn=say)
    return rerun(sweep_dir, trial, seeds, on_run=log, code_dir=Path(code_dir) if code_dir else None, warn=say,
                 on_own_run=own_log)  # fmt: skip


@dataclass(frozen=True)
class ComparisonResult:
    comparison: Comparison
    report: Path  # report/index.html of the comparison
    tracked: bool  # its arms' sweeps nested under one MLflow run


def compare(
    space: str | Path | None,
    arms: list[str],
    *,
    axis: str = "optimizer",
    seeds: int = 5,
    name: str | None = None,
    echo: Echo | None = print,
    command: str | None = None,
    **options: Any,
) -> ComparisonResult:
    """One sweep per arm (`axis` optimizer: nag, momentum, sgd, ...; method: SAMPLER-SCHEDULER or
    pbt / pb2) over the same space and budget, then the arms' best configs retrained on the same
    `seeds`: a table, paired differences, a verdict and a report. `options`: sweep options
    (trials, epochs, seed, results_dir, track, tracking_uri, experiment, ...). What `nagexp
    compare` runs."""
    from nagexp.config.loading import validated
    from nagexp.config.sweep import DEFAULT_SPACE, SweepOptions
    from nagexp.core.errors import InterruptedRun
    from nagexp.core.naming import check_name, unique_name
    from nagexp.report.compare_report import build_compare_report
    from nagexp.runs.compare import run_comparison

    say: Echo = echo or (lambda _line: None)
    results_dir = Path(options.get("results_dir", "results"))
    name = (check_name(name, "comparison name", dated_default=True) if name is not None
            else unique_name("compare", results_dir.resolve()))  # fmt: skip
    base = validated(SweepOptions, {**options, "space": space or DEFAULT_SPACE, "name": name})
    tracking = None
    if base.track:
        from nagexp.tracking.compare_tracking import CompareTracking
        from nagexp.tracking.store import resolve_store

        tracking = CompareTracking(resolve_store(base.tracking_uri, results_dir, base.experiment))
    try:
        comparison = run_comparison(space or DEFAULT_SPACE, arms, base, seeds, emit=say,
                                    parent_run=tracking.start if tracking else None,
                                    command=command or f"nagexp.compare({space!r}, {arms!r}, axis={axis!r})",
                                    axis=axis)  # fmt: skip
    except BaseException as exc:
        if tracking is not None:
            tracking.abandon(interrupted=isinstance(exc, InterruptedRun | KeyboardInterrupt))
        raise
    written = build_compare_report(comparison, base.results_dir.resolve())
    if tracking is not None:
        tracking.finish(comparison, written[0].parent)
    return ComparisonResult(comparison, written[0], tracking is not None)
