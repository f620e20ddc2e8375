"""`nagexp ls`: the sweeps in a results directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors, fail

__all__ = ["ls_command"]


@cli_errors
def ls_command(
    results_dir: Annotated[Path | None, typer.Option(help="Results root to list (default: results).")] = None,
) -> None:
    """List sweeps with their state (finished, interrupted, running, incomplete), trial
    counts and best trial; a sweep whose files are damaged, or a --results-dir that is not a
    folder, is one line on stderr (exit 2)."""
    from nagexp.results.listing import list_sweeps
    from nagexp.results.records import STATES

    given = results_dir is not None
    results_dir = results_dir if given else Path("results")
    if given and not os.path.isdir(results_dir):  # a mistyped --results-dir is not an empty one
        what = "is not a folder" if os.path.exists(results_dir) else "does not exist"
        raise fail(f"results folder '{results_dir.resolve()}' {what}: give the --results-dir the sweeps were run with",
                   2)  # fmt: skip
    listing = list_sweeps(results_dir)
    rows = listing.sweeps
    if not rows and not listing.damaged:
        typer.echo(f"no sweeps in {results_dir.resolve()}")
        return
    header = ("sweep", "state", "trials", *STATES, "best")
    table = [header]
    for r in rows:
        counts = [str(r.counts.get(state, 0)) for state in STATES]
        best = f"{r.metric} {r.best:.4f} (trial {r.best_number})" if r.best is not None else "-"
        if r.front is not None:  # several objectives
            best += f"; Pareto front: {', '.join(map(str, r.front)) or '-'}"
        table.append((r.name, r.state, f"{r.finished}/{r.planned}", *counts, best))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table if rows else []:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for line in listing.damaged[:-1]:
        typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
    if listing.damaged:
        raise fail(listing.damaged[-1], 2)
