"""`nagexp spaces list|show|validate`: the search-space files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors, fail

__all__ = ["spaces_app"]

spaces_app = typer.Typer(help="List, show and validate search-space YAML files.", no_args_is_help=True)


@spaces_app.command("list")
@cli_errors
def list_spaces() -> None:
    """The search spaces shipped in search_spaces/."""
    from nagexp.config.space import SEARCH_SPACES_DIR, load_space

    for path in sorted(SEARCH_SPACES_DIR.glob("*.yaml")):
        space = load_space(path)
        typer.echo(f"{path.name:20} {len(space.params):>2} params  {space.description}")


@spaces_app.command("show")
@cli_errors
def show_space(file: Annotated[Path, typer.Argument(help="A space file (or a shipped name like quick.yaml).")]) -> None:
    """Print a space's fixed values, its params as a table, the objective and ASHA settings."""
    from nagexp.config.space import find_space_file, load_space
    from nagexp.config.train import TrainConfig
    from nagexp.space.rungs import describe_rungs, resolved_signal
    from nagexp.space.table import params_table

    path = find_space_file(file)
    space = load_space(path)
    typer.echo(f"{path}: {space.description}")
    typer.echo("fixed: " + (", ".join(f"{k}={v}" for k, v in space.fixed.items()) or "-"))
    typer.echo(params_table(space))
    typer.echo("objective: " + ", ".join(f"{o.direction} {o.metric}" for o in space.objectives))
    a = space.asha
    kind, why = resolved_signal(space)
    typer.echo(f"asha: grace_period {a.grace_period}, reduction_factor {a.reduction_factor:g}, signal {a.signal}"
               + (f" -> {kind} ({why.removeprefix('auto: ')})" if a.signal == "auto" else "")
               + (f", cooldown {a.cooldown:g}" if kind == "cooldown" else ""))
    epochs = int(space.fixed.get("epochs", TrainConfig.model_fields["epochs"].default))
    typer.echo(describe_rungs(space, epochs))
    p = space.pbt
    typer.echo(f"pbt (--scheduler pbt|pb2): perturbation_interval {p.perturbation_interval}, quantile_fraction "
               f"{p.quantile_fraction:g}, resample_probability {p.resample_probability:g}, "
               f"mutate {', '.join(p.mutate)}")


@spaces_app.command("validate")
@cli_errors
def validate_spaces(files: Annotated[list[Path], typer.Argument(help="Space files to check.")]) -> None:
    """Check each file completely; one line per file."""
    from nagexp.config.space import find_space_file, load_space
    from nagexp.core.errors import ConfigError

    bad = 0
    for file in files:
        try:
            load_space(find_space_file(file))
            typer.echo(f"ok       {file}")
        except ConfigError as exc:
            bad += 1
            typer.secho(f"invalid  {exc}", fg=typer.colors.RED, err=True)
    if bad:
        raise fail(f"{bad} of {len(files)} space files are invalid", 2)
