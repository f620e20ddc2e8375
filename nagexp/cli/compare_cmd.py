"""`nagexp compare`: Nesterov vs heavy-ball vs plain SGD at an equal tuning budget."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors

__all__ = ["compare_command"]


@cli_errors
def compare_command(
    space: Annotated[
        Path | None, typer.Argument(help="Search space (default: search_spaces/nag_default.yaml).")
    ] = None,
    optimizers: Annotated[str, typer.Option(help="Comma-separated arms: nag, momentum, sgd.")] = "nag,momentum,sgd",
    trials: Annotated[int, typer.Option(help="Trials per arm (the same budget for each).")] = 20,
    seeds: Annotated[int, typer.Option(help="Paired seeds each arm's best config is retrained on.")] = 5,
    name: Annotated[str | None, typer.Option(help="Comparison name (default: compare-<date>-<time>).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the space's epochs per trial.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Override the space's dataset spec.")] = None,
    seed: Annotated[int, typer.Option(help="Master seed: the same sampler seed for every arm.")] = 0,
    sampler: Annotated[str, typer.Option(help="tpe | random | cmaes | gp | qmc")] = "tpe",
    scheduler: Annotated[str, typer.Option(help="asha | fifo")] = "asha",
    max_concurrent: Annotated[int | None, typer.Option(help="Trials at once.")] = None,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs per trial.")] = 1.0,
    gpus_per_trial: Annotated[float, typer.Option(help="GPUs per trial.")] = 0.0,
    address: Annotated[str | None, typer.Option(help="Join this Ray cluster.")] = None,
    results_dir: Annotated[Path, typer.Option(help="Output root.")] = Path("results"),
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="Log to MLflow (arms nested under one run).")
    ] = True,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "nagexp",
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow store.")] = None,
) -> None:
    """One sweep per optimizer over the same space and budget, then the arms' best configs
    retrained on the same seeds: a table, paired differences, a verdict and a report."""
    from nagexp.cli.options import validated
    from nagexp.naming import check_name, unique_name
    from nagexp.report.compare_report import build_compare_report
    from nagexp.sweep.compare import run_comparison
    from nagexp.sweep.spec import DEFAULT_SPACE, SweepOptions

    name = check_name(name, "comparison name") if name else unique_name("compare", results_dir.resolve())
    base = validated(SweepOptions, {
        "space": space or DEFAULT_SPACE, "name": name, "trials": trials, "epochs": epochs, "dataset": dataset,
        "seed": seed, "sampler": sampler, "scheduler": scheduler, "max_concurrent": max_concurrent,
        "cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial, "address": address,
        "results_dir": results_dir, "track": track, "experiment": experiment, "tracking_uri": tracking_uri,
    })  # fmt: skip
    tracker, parent_ids = None, []
    parent = None
    if track:
        from nagexp.tracking.store import resolve_store
        from nagexp.tracking.tracker import Tracker

        tracker = Tracker(resolve_store(tracking_uri, results_dir, experiment))

        def parent(run_name: str) -> str:
            tags = {"nagexp.kind": "compare", "seed": str(seed), "optimizers": optimizers}
            parent_ids.append(tracker.start_run(run_name, tags))
            return parent_ids[-1]

    arms = [o.strip() for o in optimizers.split(",") if o.strip()]
    comparison = run_comparison(space or DEFAULT_SPACE, arms, base, seeds, emit=typer.echo, parent_run=parent)
    written = build_compare_report(comparison, base.results_dir.resolve())

    typer.echo(f"\ncomparison {comparison.name}: best config of each arm retrained on {seeds} paired seeds")
    for arm in comparison.arms:
        mean, low, high = arm.ci or (float("nan"),) * 3
        typer.echo(f"  {arm.optimizer:9} {comparison.metric} {mean:.4f}  95 % CI [{low:.4f}, {high:.4f}]  "
                   f"(sweep {arm.sweep}, best trial {arm.best_trial})")  # fmt: skip
    for verdict in comparison.verdicts:
        typer.echo(f"verdict: {verdict}")
    typer.echo(f"report: {written[0]}")
    if tracker is not None and parent_ids:
        run_id = parent_ids[0]
        metrics = {f"{a.optimizer}_mean_{comparison.metric}": a.ci[0] for a in comparison.arms if a.ci}
        tracker.log(run_id, metrics, tags={f"verdict_{i}": v for i, v in enumerate(comparison.verdicts)})
        tracker.client.log_artifacts(run_id, str(written[0].parent), "report")
        tracker.end_run(run_id)
        typer.echo(f"MLflow: comparison run '{comparison.name}' with the arms' sweeps nested under it")
