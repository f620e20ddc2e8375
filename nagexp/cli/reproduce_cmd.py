"""`nagexp reproduce`: rerun a sweep's trial and check the result (and its luck)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors, fail
from nagexp.cli.options import RecordedCodeDir
from nagexp.core.wording import counted

__all__ = ["reproduce_command"]


@cli_errors
def reproduce_command(
    sweep: Annotated[str, typer.Argument(help="Sweep name (a folder in --results-dir) or its path.")],
    trial: Annotated[str, typer.Option(help="best, or a trial number.")] = "best",
    seeds: Annotated[int, typer.Option(help="Also train this many fresh seeds: mean and 95 % CI.")] = 0,
    results_dir: Annotated[Path, typer.Option(help="Results root holding the sweep.")] = Path("results"),
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="Log the reruns under the sweep's MLflow run.")
    ] = True,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow store of the sweep (default as for sweep).")] = None,
    code_dir: RecordedCodeDir = None,
) -> None:
    """Rerun a trial from its stored config with its own seed: on CPU the metric must match exactly."""
    from nagexp.api import reproduce

    if seeds < 0:
        raise fail(f"--seeds must be >= 0 (got {seeds})", 2)
    rep = reproduce(sweep, trial, seeds, results_dir=results_dir, track=track, tracking_uri=tracking_uri,
                    code_dir=code_dir, echo=typer.echo)  # fmt: skip
    replayed = f" (its weights' lineage replayed in {rep.segments} segments)" if rep.segments > 1 else ""
    typer.echo(f"trial {rep.trial}: {rep.metric} after {counted(rep.epochs, 'epoch')}: original "
               f"{rep.original:.6f}, rerun {rep.rerun:.6f}{replayed}")  # fmt: skip
    seeds = counted(len(rep.seed_values), "fresh seed")
    diverged = sum(not math.isfinite(v) for v in rep.seed_values)  # left out of the interval (seeds_interval)
    if rep.seed_values and rep.ci is None:
        why = "one seed gives" if len(rep.seed_values) == 1 else "fewer than two seeds that did not diverge give"
        typer.echo(f"{seeds}: {', '.join(f'{v:.4f}' for v in rep.seed_values)} ({why} no interval to judge the "
                   "original by: --seeds 2 or more)")  # fmt: skip
    elif rep.ci is not None:
        seeds += f" ({diverged} diverged, left out)" if diverged else ""
        mean, low, high = rep.ci
        side = "above" if rep.original > high else "below"
        verdict = {"typical": "inside it", "lucky": f"{side} it: a lucky seed",
                   "unlucky": f"{side} it: an unlucky seed"}[rep.seed_luck or "typical"]  # fmt: skip
        typer.echo(
            f"{seeds}: mean {mean:.4f}, 95 % CI [{low:.4f}, {high:.4f}]; "
            f"the original {rep.original:.4f} lies {verdict}"
        )
    if rep.exact:
        typer.echo("reproduced exactly (same config, same seed, CPU)")
    elif rep.on_cpu:
        why = f": {rep.other_kernels}" if rep.other_kernels else ""
        raise fail(f"not reproduced: {rep.metric} {rep.rerun!r} != {rep.original!r} on CPU with the same seed{why}", 1)
    else:
        typer.echo(f"differs by {rep.rerun - rep.original:+.6f}: the trial ran on a GPU, where bits may differ")
