"""`nagexp report`: a reproducible HTML/Markdown report of a finished sweep."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors, fail
from nagexp.cli.options import RecordedCodeDir

__all__ = ["report_command", "report_echoes"]


def report_echoes() -> tuple[Callable[[str], None], Callable[[str], None]]:
    """Where the report's lines go: what it wrote (stdout), a warning (yellow, stderr)."""
    return typer.echo, lambda line: typer.secho(line, fg=typer.colors.YELLOW, err=True)


@cli_errors
def report_command(
    sweep: Annotated[str, typer.Argument(help="Sweep name (a folder in --results-dir) or its path.")],
    results_dir: Annotated[Path, typer.Option(help="Results root holding the sweep.")] = Path("results"),
    format: Annotated[str, typer.Option("--format", help="html | md | both")] = "both",
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow store of the sweep (default as for sweep).")] = None,
    code_dir: RecordedCodeDir = None,
) -> None:
    """Build results/<sweep>/report/index.html (self-contained) and report.md (SVG figures beside it)."""
    from nagexp.report.build import publish_report
    from nagexp.results.folders import sweep_dir_of

    if format not in ("html", "md", "both"):
        raise fail(f"--format must be html, md or both (got '{format}')", 2)
    say, warn = report_echoes()
    publish_report(sweep_dir_of(sweep, results_dir), format, tracking_uri, results_dir, say=say, warn=warn,
                   code_dir=code_dir)
