"""`nagexp compare`: Nesterov vs heavy-ball vs plain SGD, or one search method against
another (e.g. TPE + ASHA against population-based training), at an equal tuning budget."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nagexp.cli import options as o
from nagexp.cli.errors import cli_errors
from nagexp.core.wording import counted
from nagexp.registries.optimizers import COMPARED_BY_DEFAULT, OPTIMIZER_NAMES

__all__ = ["compare_command"]


@cli_errors
@o.shared_options(o.SEARCH, o.USER_DATA, o.TRACKING)
def compare_command(
    ctx: typer.Context,
    space: Annotated[
        Path | None, typer.Argument(help="Search space (default: search_spaces/nag_default.yaml).")
    ] = None,
    optimizers: Annotated[
        str | None, typer.Option(help=f"Comma-separated arms: {', '.join(OPTIMIZER_NAMES)} (the default: "
                                       f"{','.join(COMPARED_BY_DEFAULT)}).")
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option(help="Comma-separated search methods instead: SAMPLER-SCHEDULER or pbt / pb2 (e.g. tpe-asha,pbt); "
                     "a population's winner is replayed from scratch under its learned schedule."),
    ] = None,
    trials: Annotated[int, typer.Option(help="Trials per arm (the same budget for each).")] = 20,
    seeds: Annotated[int, typer.Option(help="Paired seeds each arm's best config is retrained on.")] = 5,
    name: Annotated[str | None, typer.Option(help="Comparison name (default: compare-<date>-<time>).")] = None,
    **options: Any,  # o.SEARCH, o.USER_DATA, o.TRACKING
) -> None:
    """One sweep per arm over the same space and budget, then the arms' best configs retrained
    on the same seeds: a table, paired differences, a verdict and a report."""
    from nagexp.api import compare
    from nagexp.cli.options import command_line, sweep_values, validated
    from nagexp.config.sweep import DEFAULT_SPACE, SweepOptions
    from nagexp.core.errors import ConfigError

    if methods is not None and optimizers is not None:
        raise ConfigError("--optimizers and --methods are two kinds of comparison: give one")
    axis, chosen = ("method", methods) if methods else ("optimizer", optimizers or ",".join(COMPARED_BY_DEFAULT))
    # checked here first, so that a bad value's error names its option (--trials, not trials)
    validated(SweepOptions, {**sweep_values(ctx), "space": space or DEFAULT_SPACE, "name": None})
    arms = [a.strip() for a in chosen.split(",") if a.strip()]
    options = {k: v for k, v in sweep_values(ctx).items() if k != "name"}  # the comparison's name, given apart
    done = compare(space, arms, axis=axis, seeds=seeds, name=name, echo=typer.echo, command=command_line(ctx),
                   **options)  # fmt: skip
    comparison = done.comparison
    typer.echo(f"\ncomparison {comparison.name}: best config of each arm retrained on {counted(seeds, 'paired seed')}")
    width = max(9, *(len(arm.arm) for arm in comparison.arms))
    for arm in comparison.arms:
        mean, low, high = arm.ci or (float("nan"),) * 3
        typer.echo(f"  {arm.arm:{width}} {comparison.metric} {mean:.4f}  95 % CI [{low:.4f}, {high:.4f}]  "
                   f"(sweep {arm.sweep}, best trial {arm.best_trial}, "
                   f"{counted(arm.epochs_trained, 'epoch')} searched)")  # fmt: skip
    for verdict in comparison.verdicts:
        typer.echo(f"verdict: {verdict}")
    typer.echo(f"report: {done.report}")
    if done.tracked:
        typer.echo(f"MLflow: comparison run '{comparison.name}' with the arms' sweeps nested under it")
