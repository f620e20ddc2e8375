"""MLflow for `nagexp reproduce`: each rerun a run nested under the sweep's parent run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nagexp.results.files import read_summary
from nagexp.tracking.store import resolve_store
from nagexp.tracking.tracker import Tracker
from nagexp.tracking.train_tracking import TrainTracking

if TYPE_CHECKING:
    from nagexp.config.train import TrainConfig
    from nagexp.data.batches import TrainData
    from nagexp.training.trainer import TrainResult

__all__ = ["RunLogger", "rerun_logger"]

RunLogger = Callable[[str, "TrainConfig", "TrainResult", "TrainData"], None]


def rerun_logger(sweep_dir: Path, results_dir: Path, tracking_uri: str | None) -> RunLogger | None:
    """A callback logging each rerun as a child of the sweep's MLflow parent run (None when
    the sweep was not tracked)."""
    info = read_summary(sweep_dir).get("mlflow") or {}
    if not info.get("parent_run_id"):
        return None
    tracker = Tracker(resolve_store(tracking_uri, results_dir, info.get("experiment", "nagexp")))

    def log(name: str, cfg: TrainConfig, result: TrainResult, data: TrainData) -> None:
        run = TrainTracking(tracker, f"reproduce-{name}", cfg, parent_id=info["parent_run_id"], kind="reproduce")
        for metrics in result.history:
            run.on_epoch(metrics)
        run.finish(result, data, log_model=False)

    return log
