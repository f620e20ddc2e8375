"""`nagexp reproduce`: rerun a sweep's trial and check the result (and its luck)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nagexp.cli.errors import cli_errors, fail

if TYPE_CHECKING:
    from nagexp.config.train import TrainConfig
    from nagexp.train.data import DataBundle
    from nagexp.train.trainer import TrainResult

__all__ = ["reproduce_command"]

RunLogger = Callable[[str, "TrainConfig", "TrainResult", "DataBundle"], None]


def _mlflow_logger(sweep_dir: Path, results_dir: Path, tracking_uri: str | None) -> RunLogger | None:
    """A callback logging each rerun as a child of the sweep's MLflow parent run (or None)."""
    summary_path = sweep_dir / "summary.json"
    info = (json.loads(summary_path.read_text()).get("mlflow") or {}) if summary_path.exists() else {}
    if not info.get("parent_run_id"):
        return None
    from nagexp.tracking.store import resolve_store
    from nagexp.tracking.tracker import Tracker
    from nagexp.tracking.train_tracking import TrainTracking

    tracker = Tracker(resolve_store(tracking_uri, results_dir, info.get("experiment", "nagexp")))

    def log(name: str, cfg: TrainConfig, result: TrainResult, data: DataBundle) -> None:
        run = TrainTracking(tracker, f"reproduce-{name}", cfg, parent_id=info["parent_run_id"], kind="reproduce")
        for metrics in result.history:
            run.on_epoch(metrics)
        run.finish(result, data, log_model=False)

    return log


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
) -> None:
    """Rerun a trial from its stored config with its own seed: on CPU the metric must match exactly."""
    from nagexp.naming import check_name
    from nagexp.sweep.reproduce import reproduce

    if seeds < 0:
        raise fail(f"--seeds must be >= 0 (got {seeds})", 2)
    path = Path(sweep)
    sweep_dir = path if path.is_dir() else results_dir / check_name(sweep, "sweep name")
    if not (sweep_dir / "sweep.json").exists():
        raise fail(f"no sweep '{sweep}' in {results_dir.resolve()}; `nagexp ls` lists the sweeps", 2)
    log = _mlflow_logger(sweep_dir, results_dir, tracking_uri) if track else None
    rep = reproduce(sweep_dir, trial, seeds, on_run=log)
    typer.echo(
        f"trial {rep.trial}: {rep.metric} after {rep.epochs} epochs: original {rep.original:.6f}, rerun {rep.rerun:.6f}"
    )
    if rep.ci is not None:
        mean, low, high = rep.ci
        verdict = "outside it: a lucky seed" if rep.lucky else "inside it"
        typer.echo(
            f"{len(rep.seed_values)} fresh seeds: mean {mean:.4f}, 95 % CI [{low:.4f}, {high:.4f}]; "
            f"the original {rep.original:.4f} lies {verdict}"
        )
    if rep.exact:
        typer.echo("reproduced exactly (same config, same seed, CPU)")
    elif rep.on_cpu:
        raise fail(f"not reproduced: {rep.metric} {rep.rerun!r} != {rep.original!r} on CPU with the same seed", 1)
    else:
        typer.echo(f"differs by {rep.rerun - rep.original:+.6f}: the trial ran on a GPU, where bits may differ")
