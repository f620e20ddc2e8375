"""`nagexp ls`: the sweeps in a results directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors

__all__ = ["ls_command"]


@cli_errors
def ls_command(
    results_dir: Annotated[Path, typer.Option(help="Results root to list.")] = Path("results"),
) -> None:
    """List sweeps with their state (finished, interrupted, running, incomplete), trial
    counts and best trial."""
    from nagexp.results.listing import list_sweeps

    rows = list_sweeps(results_dir)
    if not rows:
        typer.echo(f"no sweeps in {results_dir.resolve()}")
        return
    header = ("sweep", "state", "trials", "completed", "pruned", "diverged", "errored", "best")
    table = [header]
    for r in rows:
        counts = [str(r.counts.get(state, 0)) for state in ("completed", "pruned", "diverged", "errored")]
        best = f"{r.metric} {r.best:.4f} (trial {r.best_number})" if r.best is not None else "-"
        table.append((r.name, r.state, f"{r.finished}/{r.planned}", *counts, best))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
