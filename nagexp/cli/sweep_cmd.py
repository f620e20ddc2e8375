"""`nagexp sweep`: Optuna search over LR/momentum schedules, trials on Ray Tune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nagexp.cli import options as o
from nagexp.cli.errors import cli_errors, fail

__all__ = ["sweep_command"]

# besides where a sweep runs and logs (sweeps.resume.RESUMABLE_WITH), --resume takes what
# does not change the sweep: how it is shown
_CLI_ONLY = ("resume", "report", "dry_run")


@cli_errors
@o.shared_options(o.SEARCH, o.USER_DATA, o.TRACKING)
def sweep_command(
    ctx: typer.Context,
    space: Annotated[
        Path | None, typer.Argument(help="Search-space YAML (default: search_spaces/nag_default.yaml).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Sweep name (default: <space>-<date>-<time>).")] = None,
    trials: o.Trials = 20,
    workers_per_trial: o.WorkersPerTrial = None,
    cpus_per_worker: o.CpusPerWorker = 1.0,
    gpus_per_worker: o.GpusPerWorker = 0.0,
    time_budget: Annotated[float | None, typer.Option(help="Stop the sweep after this many seconds.")] = None,
    epoch_budget: o.EpochBudget = None,
    max_failures: Annotated[int, typer.Option(help="Retries of a trial whose worker died (from its checkpoint).")] = 2,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and sample configs; run nothing.")] = False,
    log_models: Annotated[
        str, typer.Option(help="best | all | none: trial models logged with the PyTorch flavor.")
    ] = "best",
    register_model: Annotated[str | None, typer.Option(help="Register the best model under this name.")] = None,
    report: Annotated[bool, typer.Option("--report", help="Build the HTML/Markdown report at the end.")] = False,
    warm_start: Annotated[
        list[str] | None,
        typer.Option(help="Tell the new study the finished trials of this earlier sweep (a name in --results-dir "
                     "or a folder; repeatable, or comma-separated). Nothing is retrained."),
    ] = None,
    warm_start_any: Annotated[
        bool, typer.Option("--warm-start-any", help="Warm-start from sweeps of another dataset or objective too.")
    ] = False,
    enqueue: Annotated[
        Path | None,
        typer.Option(help="Run these configs first: a best.yaml / config.yaml, or a YAML list of param sets."),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Continue the interrupted sweep NAME in --results-dir (or the sweep folder PATH), with "
                     "the options it started with."),
    ] = None,
    **options: Any,  # o.SEARCH, o.USER_DATA, o.TRACKING
) -> None:
    """Search learning-rate and momentum schedules: Optuna proposes, Ray Tune runs, ASHA stops early."""
    from nagexp import api
    from nagexp.cli.options import command_line, given_options, sweep_values, validated, written_as
    from nagexp.config.sweep import DEFAULT_SPACE, SweepOptions
    from nagexp.sweeps.resume import RESUMABLE_WITH, check_resume_options

    values = sweep_values(ctx)
    if resume is not None:
        check_resume_options([k for k in given_options(ctx) if k not in _CLI_ONLY], lambda k: written_as(ctx, k))
        values = {k: values[k] for k in RESUMABLE_WITH if values.get(k) is not None}
    else:
        validated(SweepOptions, {"space": space or DEFAULT_SPACE, **values})  # errors name the CLI's options
        # the options written, as a Python call passes them: the others are SweepOptions' defaults
        # (the same), and which were given tells an option the sweep would ignore (spec.check_combinations)
        values = {k: v for k, v in values.items() if k in given_options(ctx) and v is not None}
    if dry_run:
        from nagexp.sweeps.dry_run import preview

        typer.echo(preview(api.resolve_spec(space, resume, **values), resume=resume is not None))
        return

    from nagexp.cli.report_cmd import report_echoes
    from nagexp.cli.sweep_output import print_outcome

    result = api.sweep(space, resume=resume, echo=typer.echo, command=command_line(ctx), **values)
    print_outcome(result.outcome)
    if report:
        api.publish_sweep_report(result, *report_echoes())
    if not result.outcome.succeeded:
        raise fail(f"no trial finished; see the reasons in {result.trials_csv}", 1)
