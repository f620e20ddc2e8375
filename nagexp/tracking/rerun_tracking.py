"""MLflow for `nagexp reproduce`: each rerun a run nested under the sweep's parent run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nagexp.results.files import read_summary
from nagexp.tracking.store import sweep_store
from nagexp.tracking.tracker import Tracker
from nagexp.tracking.train_tracking import TrainTracking

if TYPE_CHECKING:
    from nagexp.config.train import TrainConfig
    from nagexp.data.batches import TrainData
    from nagexp.training.trainer import TrainResult

__all__ = ["OwnRunLogger", "RunLogger", "own_rerun_logger", "rerun_logger"]

RunLogger = Callable[[str, "TrainConfig", "TrainResult", "TrainData"], None]
OwnRunLogger = Callable[[str, "TrainConfig", list[dict[str, float]]], None]  # a training function of the user's


def _sweep_run(sweep_dir: Path, results_dir: Path, tracking_uri: str | None) -> tuple[Tracker, str] | None:
    """The store and parent run the sweep logged to (`tracking_uri`, if given, instead)."""
    info = read_summary(sweep_dir).get("mlflow") or {}
    if not info.get("parent_run_id"):
        return None
    store = sweep_store(tracking_uri, info.get("tracking_uri"), results_dir, info.get("experiment", "nagexp"))
    return Tracker(store), str(info["parent_run_id"])


def rerun_logger(sweep_dir: Path, results_dir: Path, tracking_uri: str | None) -> RunLogger | None:
    """A callback logging each rerun as a child of the sweep's MLflow parent run (None when
    the sweep was not tracked)."""
    if (found := _sweep_run(sweep_dir, results_dir, tracking_uri)) is None:
        return None
    tracker, parent = found

    def log(name: str, cfg: TrainConfig, result: TrainResult, data: TrainData) -> None:
        run = TrainTracking(tracker, f"reproduce-{name}", cfg, parent_id=parent, kind="reproduce")
        for metrics in result.history:
            run.on_epoch(metrics)
        run.finish(result, data, log_model=False)

    return log


def own_rerun_logger(sweep_dir: Path, results_dir: Path, tracking_uri: str | None) -> OwnRunLogger | None:
    """The same for the reruns of a training function of the user's: its reported epochs."""
    if (found := _sweep_run(sweep_dir, results_dir, tracking_uri)) is None:
        return None
    tracker, parent = found

    def log(name: str, cfg: TrainConfig, history: list[dict[str, float]]) -> None:
        run = TrainTracking(tracker, f"reproduce-{name}", cfg, parent_id=parent, kind="reproduce")
        for metrics in history:
            run.on_epoch(metrics)
        run.finish_own(history)

    return log
