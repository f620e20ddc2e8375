"""`nagexp sweep`: Optuna search over LR/momentum schedules, trials on Ray Tune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors, fail

__all__ = ["sweep_command"]


def _refuse_changes_on_resume(given: dict, space: Path | None, dry_run: bool) -> None:
    """A resumed sweep runs with the options it started with; only where it runs may change."""
    from nagexp.errors import ConfigError
    from nagexp.sweep.spec import SweepOptions

    defaults = SweepOptions().model_dump()
    changed = [k for k, v in given.items() if k not in ("space", "address", "results_dir", "tracking_uri")
               and v != defaults[k]]  # fmt: skip
    if space is not None:
        changed.insert(0, "space")
    if dry_run:
        changed.append("dry_run")
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") if k != "space" else "SPACE" for k in changed)
        raise ConfigError(f"--resume continues a sweep with the options it started with; drop {flags}")


@cli_errors
def sweep_command(
    space: Annotated[
        Path | None, typer.Argument(help="Search-space YAML (default: search_spaces/nag_default.yaml).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Sweep name (default: <space>-<date>-<time>).")] = None,
    trials: Annotated[int, typer.Option(help="Trials to run.")] = 20,
    epochs: Annotated[int | None, typer.Option(help="Override the space's epochs per trial.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Override the space's dataset spec.")] = None,
    seed: Annotated[int, typer.Option(help="Master seed: the sampler and every trial's seed.")] = 0,
    sampler: Annotated[str, typer.Option(help="tpe | random | cmaes | gp | qmc")] = "tpe",
    scheduler: Annotated[str, typer.Option(help="asha (early stopping on epochs) | fifo")] = "asha",
    max_concurrent: Annotated[int | None, typer.Option(help="Trials at once (default: as resources allow).")] = None,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs per trial (also its torch threads).")] = 1.0,
    gpus_per_trial: Annotated[float, typer.Option(help="GPUs per trial; fractions share a GPU.")] = 0.0,
    time_budget: Annotated[float | None, typer.Option(help="Stop the sweep after this many seconds.")] = None,
    max_failures: Annotated[int, typer.Option(help="Retries of a trial whose worker died (from its checkpoint).")] = 2,
    address: Annotated[str | None, typer.Option(help="Join this Ray cluster (default: start Ray locally).")] = None,
    results_dir: Annotated[Path, typer.Option(help="Output root; on a cluster, storage every node sees.")] = Path(
        "results"
    ),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and sample configs; run nothing.")] = False,
    track: Annotated[bool, typer.Option("--track/--no-track", help="Log the sweep and its trials to MLflow.")] = True,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "nagexp",
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite in --results-dir).")
    ] = None,
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
    from nagexp.cli.options import validated
    from nagexp.sweep.spec import DEFAULT_SPACE, SweepOptions, resolve_sweep

    given = {
        "space": space or DEFAULT_SPACE, "name": name, "trials": trials, "epochs": epochs, "dataset": dataset,
        "seed": seed, "sampler": sampler, "scheduler": scheduler, "max_concurrent": max_concurrent,
        "cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial, "time_budget": time_budget,
        "max_failures": max_failures,
        "address": address, "results_dir": results_dir, "track": track, "experiment": experiment,
        "tracking_uri": tracking_uri, "log_models": log_models, "register_model": register_model,
    }  # fmt: skip
    if resume is not None:
        from nagexp.sweep.resume import load_resume_spec

        _refuse_changes_on_resume(given, space, dry_run)
        spec = load_resume_spec(resume, results_dir, address, tracking_uri)
        options = spec.options
    else:
        options = validated(SweepOptions, given)
        spec = resolve_sweep(options)
    if dry_run:
        from nagexp.sweep.preview import describe_plan

        typer.echo(describe_plan(spec))
        return

    from nagexp.sweep.progress import top_table
    from nagexp.sweep.runner import run_sweep
    from nagexp.tracking.store import mask_uri

    typer.echo(
        f"sweep {spec.name}: {options.trials} trials of {spec.space.fixed.get('model', 'cnn')} on "
        f"{spec.space.fixed.get('dataset', 'digits')}, {options.sampler} + {options.scheduler}, "
        f"objective {spec.mode} {spec.metric}, seed {options.seed}"
    )
    outcome = run_sweep(spec, emit=typer.echo, resume=resume is not None)
    c = outcome.counts
    if outcome.interrupted:
        finished = len(outcome.records) - c["running"]
        where = "" if options.results_dir.resolve() == Path("results").resolve() else f" --results-dir {results_dir}"
        raise fail(
            f"interrupted: {finished} of {options.trials} trials finished, state saved in {spec.sweep_dir}; "
            f"resume with: nagexp sweep --resume {spec.name}{where}",
            130,
        )
    typer.echo(
        f"\n{len(outcome.records)} trials in {outcome.seconds:.0f} s: {c['completed']} completed, "
        f"{c['pruned']} pruned, {c['diverged']} diverged, {c['errored']} errored"
    )
    typer.echo(top_table(outcome.records, list(spec.space.params), spec.metric, spec.mode))
    typer.echo(f"\nresults: {spec.sweep_dir}  (sweep.json, trials.csv, best.yaml, optuna.db, ray/)")
    if options.track:
        ui = "nagexp ui" + (f" --results-dir {options.results_dir}" if options.results_dir != Path("results") else "")
        if options.tracking_uri:
            ui = f"nagexp ui --tracking-uri {mask_uri(options.tracking_uri)}"
        typer.echo(f"MLflow: experiment '{options.experiment}', parent run '{spec.name}'; open the UI with: {ui}")
    if outcome.best is not None:
        test = f", test acc {outcome.best.test_acc:.4f}" if outcome.best.test_acc is not None else ""
        typer.echo(f"best: trial {outcome.best.number}, {spec.metric} {outcome.best.final:.4f}{test}")
        typer.echo(f"rerun it: nagexp train {spec.sweep_dir / 'best.yaml'}")
    if report:
        from nagexp.cli.report_cmd import write_report

        write_report(spec.sweep_dir, "both", options.tracking_uri if options.track else None, options.results_dir)
    if not outcome.succeeded:
        raise fail(f"no trial finished; see the reasons in {spec.sweep_dir / 'trials.csv'}", 1)
