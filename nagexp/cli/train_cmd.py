"""`nagexp train`: one training run with a live per-epoch table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nagexp.cli.errors import cli_errors

__all__ = ["train_command"]


@cli_errors
def train_command(
    config: Annotated[
        Path | None, typer.Argument(help="YAML file of TrainConfig fields (e.g. a sweep's best.yaml).")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="digits | mnist:DIR | fashion-mnist:DIR | cifar10:DIR | cifar100:DIR | imagefolder:DIR | npz:FILE"
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="mlp | cnn | resnet | fastnet")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="nag (Nesterov) | momentum (heavy-ball) | sgd")] = None,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate (effective lr/(1-mu) with --set lr_mode=effective).")
    ] = None,
    momentum: Annotated[float | None, typer.Option(help="Peak momentum mu in [0, 1).")] = None,
    lr_schedule: Annotated[
        str | None, typer.Option(help="constant | step | cosine | warmup_cosine | onecycle | linear")
    ] = None,
    momentum_schedule: Annotated[str | None, typer.Option(help="constant | sutskever | cyclical | final_drop")] = None,
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
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite in --results-dir).")
    ] = None,
) -> None:
    """Train one model with Nesterov (or heavy-ball / plain) SGD and print each epoch."""
    from nagexp.cli.table import EpochTable
    from nagexp.config.loading import load_train_config, parse_overrides
    from nagexp.tracking.store import resolve_store
    from nagexp.train_run import run_training

    options = {
        "dataset": dataset, "model": model, "epochs": epochs, "optimizer": optimizer, "lr": lr,
        "momentum": momentum, "lr_schedule": lr_schedule, "momentum_schedule": momentum_schedule,
        "batch_size": batch_size, "weight_decay": weight_decay, "seed": seed, "device": device,
    }  # fmt: skip
    overrides = {**parse_overrides(set_ or []), **{k: v for k, v in options.items() if v is not None}}
    cfg = load_train_config(config, overrides)
    typer.echo(
        f"training {cfg.model} on {cfg.dataset} with {cfg.optimizer} "
        f"(lr {cfg.lr:g} {cfg.lr_schedule}, momentum {cfg.momentum:g} {cfg.momentum_schedule}), "
        f"{cfg.epochs} epochs, seed {cfg.seed}"
    )
    store = resolve_store(tracking_uri, results_dir, experiment) if track else None
    run = run_training(
        cfg, results_dir, name, on_epoch=EpochTable(), on_data=lambda d: typer.echo(d.report.summary()), tracking=store
    )
    result = run.result
    if result.diverged:
        typer.secho(f"diverged: {result.diverged_reason}", fg=typer.colors.YELLOW)
    else:
        typer.echo(f"test accuracy {result.test_acc:.4f}  (test loss {result.test_loss:.4f})")
    typer.echo(f"{result.epochs_run} epochs in {result.seconds:.1f} s; results in {run.out_dir}")
    if store is not None:
        typer.echo(f"MLflow: run '{run.out_dir.name}' in experiment '{experiment}' at {store.shown}")
