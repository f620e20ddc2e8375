"""`nagexp train`: one training run with a live per-epoch table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli import options as o
from nagexp.cli.errors import cli_errors, fail
from nagexp.core.wording import counted
from nagexp.registries.models import MODEL_NAMES
from nagexp.registries.optimizers import OPTIMIZERS
from nagexp.registries.schedules import LR_SCHEDULE_NAMES, MOMENTUM_SCHEDULE_NAMES

__all__ = ["train_command"]


@cli_errors
def train_command(
    config: Annotated[
        Path | None, typer.Argument(help="YAML file of TrainConfig fields (e.g. a sweep's best.yaml).")
    ] = None,
    dataset: o.Dataset = None,
    model: Annotated[
        str | None, typer.Option(help=f"{' | '.join(MODEL_NAMES)}, or your own: package.module:callable")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    optimizer: Annotated[
        str | None, typer.Option(help=" | ".join(f"{k} ({v})" for k, v in OPTIMIZERS.items()))
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate (effective lr/(1-mu) with --set lr_mode=effective).")
    ] = None,
    momentum: Annotated[float | None, typer.Option(help="Peak momentum mu in [0, 1).")] = None,
    lr_schedule: Annotated[str | None, typer.Option(
        help=" | ".join(LR_SCHEDULE_NAMES) + " | your own: package.module:fn (its arguments: --set "
        "lr_schedule_args.NAME=VALUE)")] = None,
    momentum_schedule: Annotated[str | None, typer.Option(
        help=" | ".join(MOMENTUM_SCHEDULE_NAMES) + " | your own: package.module:fn")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Samples per step.")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="L2 weight decay.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for init, batch order and augmentation.")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Any TrainConfig field: key=value (repeatable).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default: <model>-<optimizer>-<time>).")] = None,
    results_dir: Annotated[Path, typer.Option(help="Output root: <dir>/train/<name>/.")] = Path("results"),
    track: Annotated[bool, typer.Option("--track/--no-track", help="Log the run to MLflow.")] = True,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "nagexp",
    tracking_uri: o.TrackingUri = None,
    code_dir: o.CodeDir = None,
    cache_dir: o.CacheDir = None,
    data_mode: o.DataMode = None,
    memory_budget: o.MemoryBudget = None,
    workers_per_trial: o.WorkersPerTrial = None,
    cpus_per_worker: o.CpusPerWorker = 1.0,
    gpus_per_worker: o.GpusPerWorker = 0.0,
    address: o.Address = None,
) -> None:
    """Train one model with Nesterov (or heavy-ball / plain) SGD and print each epoch."""
    from nagexp import api
    from nagexp.cli.table import EpochTable
    from nagexp.config.loading import parse_overrides, train_config_from

    options = {
        "dataset": dataset, "model": model, "epochs": epochs, "optimizer": optimizer, "lr": lr,
        "momentum": momentum, "lr_schedule": lr_schedule, "momentum_schedule": momentum_schedule,
        "batch_size": batch_size, "weight_decay": weight_decay, "seed": seed, "device": device,
        "data_mode": data_mode, "workers_per_trial": workers_per_trial,
    }  # fmt: skip
    pairs, given = parse_overrides(set_ or []), {k: v for k, v in options.items() if v is not None}
    if twice := next((k for k in given if k in pairs), None):  # which would win is a guess: neither
        flag = "--" + twice.replace("_", "-")
        raise fail(f"{flag} {given[twice]} and --set {twice}={pairs[twice]} both set {twice}; give it once", 2)
    overrides = {**pairs, **given}
    if config is None:  # a bad value named by the option that gave it (a file's values are merged in api.train)
        train_config_from(overrides, "--set", given)
    run = api.train(config, results_dir=results_dir, name=name, track=track, experiment=experiment,
                    tracking_uri=tracking_uri, code_dir=code_dir, cache_dir=cache_dir, memory_budget=memory_budget,
                    echo=typer.echo, on_epoch=EpochTable(), cpus_per_worker=cpus_per_worker,
                    gpus_per_worker=gpus_per_worker, address=address, **overrides)  # fmt: skip
    result = run.result
    if result.diverged:
        typer.secho(f"diverged: {result.diverged_reason}", fg=typer.colors.YELLOW)
    else:
        typer.echo(f"test accuracy {result.test_acc:.4f}  (test loss {result.test_loss:.4f})")
    typer.echo(f"{counted(result.epochs_run, 'epoch')} in {result.seconds:.1f} s; results in {run.out_dir}")
    if run.mlflow is not None:
        typer.echo(f"MLflow: run '{run.out_dir.name}' in experiment '{experiment}' at {run.mlflow['tracking_uri']}")
