"""`nagexp report`: a reproducible HTML/Markdown report of a finished sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors, fail

__all__ = ["report_command", "write_report"]


def write_report(sweep_dir: Path, fmt: str, tracking_uri: str | None, results_dir: Path) -> None:
    """Build the report, print where it is, and attach it to the sweep's MLflow run."""
    from nagexp.report.build import publish_report

    publish_report(sweep_dir, fmt, tracking_uri, results_dir, say=typer.echo,
                   warn=lambda line: typer.secho(line, fg=typer.colors.YELLOW, err=True))  # fmt: skip


@cli_errors
def report_command(
    sweep: Annotated[str, typer.Argument(help="Sweep name (a folder in --results-dir) or its path.")],
    results_dir: Annotated[Path, typer.Option(help="Results root holding the sweep.")] = Path("results"),
    format: Annotated[str, typer.Option("--format", help="html | md | both")] = "both",
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow store of the sweep (default as for sweep).")] = None,
) -> None:
    """Build results/<sweep>/report/index.html (self-contained) and report.md (SVG figures beside it)."""
    from nagexp.naming import check_name

    if format not in ("html", "md", "both"):
        raise fail(f"--format must be html, md or both (got '{format}')", 2)
    path = Path(sweep)
    sweep_dir = path if path.is_dir() else results_dir / check_name(sweep, "sweep name")
    if not (sweep_dir / "sweep.json").exists():
        raise fail(f"no sweep '{sweep}' in {results_dir.resolve()}; `nagexp ls` lists the sweeps", 2)
    write_report(sweep_dir, format, tracking_uri, results_dir)
