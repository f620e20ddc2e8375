"""The root `nagexp` command: composes the sub-commands."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from nagexp.cli.compare_cmd import compare_command
from nagexp.cli.ls_cmd import ls_command
from nagexp.cli.report_cmd import report_command
from nagexp.cli.reproduce_cmd import reproduce_command
from nagexp.cli.spaces_cmd import spaces_app
from nagexp.cli.sweep_cmd import sweep_command
from nagexp.cli.train_cmd import train_command
from nagexp.cli.ui_cmd import ui_command
from nagexp.core.clock import mark_command_start
from nagexp.core.version import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="nagexp",
    help="Hyperparameter experiments for Nesterov-momentum training (Ray Tune + Optuna + MLflow).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nagexp {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """nagexp: which learning-rate and momentum schedule trains this model best?"""


app.command("train")(train_command)
app.command("sweep")(sweep_command)
app.command("ls")(ls_command)
app.command("report")(report_command)
app.command("reproduce")(reproduce_command)
app.command("compare")(compare_command)
app.command("ui")(ui_command)
app.add_typer(spaces_app, name="spaces")


def main() -> None:
    """Run the command, then exit without the interpreter's teardown once every result is
    written and the output flushed: unloading torch, Ray's and gRPC's native state adds
    about a second to every command for nothing. A real bug (a traceback) exits as usual."""
    mark_command_start()
    try:
        app()
        code = 0
    except SystemExit as exc:
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
