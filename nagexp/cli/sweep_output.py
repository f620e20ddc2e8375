"""What `nagexp sweep` prints when the trials are done: counts, the top trials, where
everything is, and the best trial (the one every other surface names too)."""

from __future__ import annotations

import shlex

import typer

from nagexp.cli.errors import fail
from nagexp.core.wording import counted
from nagexp.results.folders import SweepFolder, results_dir_option
from nagexp.results.ranking import Ranking, finished_count
from nagexp.results.records import STATES, TrialState
from nagexp.sweeps.outcome import SweepOutcome

__all__ = ["print_outcome"]


def print_outcome(outcome: SweepOutcome) -> None:
    """Raises typer.Exit(130) for an interrupted sweep, after the resume hint."""
    from nagexp.sweeps.folder import resume_command
    from nagexp.sweeps.progress import top_table
    from nagexp.tracking.store import mask_uri

    spec, options, c = outcome.spec, outcome.spec.options, outcome.counts
    if outcome.interrupted:
        raise fail(
            f"interrupted: {finished_count(c)} of {counted(options.trials, 'trial')} finished, "
            f"state saved in {spec.sweep_dir}; resume with: {resume_command(spec)}",
            130,
        )
    typer.echo(
        f"\n{counted(len(outcome.records), 'trial')} in {outcome.seconds:.0f} s: "
        + ", ".join(f"{c[s]} {s}" for s in STATES)
    )
    spent = sum(r.epochs_run for r in outcome.records)
    if options.epoch_budget is not None and spent >= options.epoch_budget and len(outcome.records) < options.trials:
        typer.echo(f"--epoch-budget {options.epoch_budget} spent (epochs of all trials together): the sweep ended "
                   f"there, {options.trials - len(outcome.records)} of {options.trials} trials never started")
    if outcome.best is not None:  # else no trial has a result to rank (all diverged or errored): no table
        typer.echo(top_table(outcome.records, list(spec.space.params), spec.metric,
                             Ranking.of(spec.space, spec.options.pick)))
    written = [name for name in ("sweep.json", "trials.csv", "best.yaml", "optuna.db", "ray/")
               if (spec.sweep_dir / name).exists()]  # best.yaml: only when a trial is best  # fmt: skip
    typer.echo(f"\nresults: {spec.sweep_dir}  ({', '.join(written)})")
    if options.track:
        ui = "nagexp ui" + results_dir_option(options.results_dir)
        if options.tracking_uri:
            ui = f"nagexp ui --tracking-uri {mask_uri(options.tracking_uri)}"
        typer.echo(f"MLflow: experiment '{options.experiment}', parent run '{spec.name}'; open the UI with: {ui}")
    if outcome.best is not None:
        best = outcome.best
        test = f", test acc {best.test_acc:.4f}" if best.test_acc is not None else ""
        typer.echo(f"best: trial {best.number}, {spec.metric} {best.final:.4f}{test}")
        if best.state == TrialState.COMPLETED and Ranking.of(spec.space, options.pick).meets_pick(best) is False:
            typer.echo(f"(no trial on the Pareto front meets --pick {options.pick}: the knee is the best)")
        rerun = (["reproduce", spec.name, "--results-dir", str(spec.results_dir)] if spec.own_trainer
                 else ["train", str(SweepFolder(spec.sweep_dir).best_yaml)])  # `nagexp train` runs the built-in trainer
        typer.echo(f"rerun it: {shlex.join(['nagexp', *rerun])}")
