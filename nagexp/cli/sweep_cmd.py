"""`nagexp sweep`: Optuna search over LR/momentum schedules, trials on Ray Tune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli import options as o
from nagexp.cli.errors import cli_errors, fail

__all__ = ["sweep_command"]

# where a sweep runs and logs may change when it is resumed; everything else is as it started
_RESUMABLE_WITH = {"resume", "address", "results_dir", "tracking_uri", "report"}


def _refuse_changes_on_resume(given: list[str]) -> None:
    from nagexp.errors import ConfigError

    changed = [name for name in given if name not in _RESUMABLE_WITH]
    if changed:
        flags = ", ".join("SPACE" if k == "space" else "--" + k.replace("_", "-") for k in changed)
        raise ConfigError(f"--resume continues a sweep with the options it started with; drop {flags}")


@cli_errors
def sweep_command(
    ctx: typer.Context,
    space: Annotated[
        Path | None, typer.Argument(help="Search-space YAML (default: search_spaces/nag_default.yaml).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Sweep name (default: <space>-<date>-<time>).")] = None,
    trials: o.Trials = 20,
    epochs: o.Epochs = None,
    dataset: o.Dataset = None,
    seed: o.Seed = 0,
    sampler: o.Sampler = "tpe",
    scheduler: o.Scheduler = "asha",
    max_concurrent: o.MaxConcurrent = None,
    cpus_per_trial: o.CpusPerTrial = 1.0,
    gpus_per_trial: o.GpusPerTrial = 0.0,
    time_budget: Annotated[float | None, typer.Option(help="Stop the sweep after this many seconds.")] = None,
    max_failures: Annotated[int, typer.Option(help="Retries of a trial whose worker died (from its checkpoint).")] = 2,
    address: o.Address = None,
    results_dir: o.ResultsDir = Path("results"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and sample configs; run nothing.")] = False,
    track: o.Track = True,
    experiment: o.Experiment = "nagexp",
    tracking_uri: o.TrackingUri = None,
    log_models: Annotated[
        str, typer.Option(help="best | all | none: trial models logged with the PyTorch flavor.")
    ] = "best",
    register_model: Annotated[str | None, typer.Option(help="Register the best model under this name.")] = None,
    report: Annotated[bool, typer.Option("--report", help="Build the HTML/Markdown report at the end.")] = False,
    resume: Annotated[
        str | None,
        typer.Option(help="Continue the interrupted sweep NAME in --results-dir, with the options it started with."),
    ] = None,
) -> None:
    """Search learning-rate and momentum schedules: Optuna proposes, Ray Tune runs, ASHA stops early."""
    from nagexp.cli.options import command_line, given_options, validated
    from nagexp.config.sweep import DEFAULT_SPACE, SweepOptions, resolve_sweep

    if resume is not None:
        from nagexp.sweeps.resume import load_resume_spec

        _refuse_changes_on_resume(given_options(ctx))
        spec = load_resume_spec(resume, results_dir, address, tracking_uri)
    else:
        spec = resolve_sweep(validated(SweepOptions, {
            "space": space or DEFAULT_SPACE, "name": name, "trials": trials, "epochs": epochs, "dataset": dataset,
            "seed": seed, "sampler": sampler, "scheduler": scheduler, "max_concurrent": max_concurrent,
            "cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial, "time_budget": time_budget,
            "max_failures": max_failures, "address": address, "results_dir": results_dir, "track": track,
            "experiment": experiment, "tracking_uri": tracking_uri, "log_models": log_models,
            "register_model": register_model,
        }))  # fmt: skip
    if dry_run:
        from nagexp.sweeps.preview import describe_plan

        typer.echo(describe_plan(spec))
        return

    from nagexp.cli.sweep_output import print_outcome
    from nagexp.sweeps.runner import run_sweep

    options = spec.options
    typer.echo(
        f"sweep {spec.name}: {options.trials} trials of {spec.space.fixed.get('model', 'cnn')} on "
        f"{spec.space.fixed.get('dataset', 'digits')}, {options.sampler} + {options.scheduler}, "
        f"objective {spec.mode} {spec.metric}, seed {options.seed}"
    )
    outcome = run_sweep(spec, emit=typer.echo, resume=resume is not None, command=command_line(ctx))
    print_outcome(outcome)
    if report and not outcome.interrupted:
        from nagexp.cli.report_cmd import write_report

        write_report(spec.sweep_dir, "both", options.tracking_uri if options.track else None, options.results_dir)
    if not outcome.succeeded:
        raise fail(f"no trial finished; see the reasons in {spec.sweep_dir / 'trials.csv'}", 1)
