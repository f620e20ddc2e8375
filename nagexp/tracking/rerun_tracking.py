"""MLflow for `nagexp reproduce`: each rerun a run nested under the sweep's parent run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nagexp.core.errors import first_line
from nagexp.results.files import read_summary
from nagexp.tracking.store import sweep_store
from nagexp.tracking.tracker import Tracker, store_errors
from nagexp.tracking.train_tracking import TrainTracking

if TYPE_CHECKING:
    from nagexp.config.train import TrainConfig
    from nagexp.data.batches import TrainData
    from nagexp.training.trainer import TrainResult

__all__ = ["OwnRunLogger", "RunLogger", "rerun_loggers"]

RunLogger = Callable[[str, "TrainConfig", "TrainResult", "TrainData"], None]
OwnRunLogger = Callable[[str, "TrainConfig", list[dict[str, float]]], None]  # a training function of the user's


def _sweep_run(sweep_dir: Path, results_dir: Path, tracking_uri: str | None) -> tuple[Tracker, str] | None:
    """The store and parent run the sweep logged to (`tracking_uri`, if given, instead)."""
    info = read_summary(sweep_dir).get("mlflow") or {}
    if not info.get("parent_run_id"):
        return None
    store = sweep_store(tracking_uri, info.get("tracking_uri"), results_dir, info.get("experiment", "nagexp"))
    return Tracker(store), str(info["parent_run_id"])


def rerun_loggers(sweep_dir: Path, results_dir: Path, tracking_uri: str | None,
                  warn: Callable[[str], None]) -> tuple[RunLogger | None, OwnRunLogger | None]:  # fmt: skip
    """Callbacks logging each rerun as a child of the sweep's MLflow parent run, one for nagexp's
    trainer and one for a training function of the user's (its reported epochs); (None, None)
    when the sweep was not tracked. One store is opened for both. A store that fails while the
    reruns log (a server gone, an experiment deleted) is one warning line, and the reruns go on:
    their results are printed and returned whatever MLflow does."""
    if (found := _sweep_run(sweep_dir, results_dir, tracking_uri)) is None:
        return None, None
    tracker, parent = found
    failed: list[str] = []
    errors = store_errors()

    def guarded(write: Callable[..., None]) -> Callable[..., None]:
        def logged(name: str, *args: Any) -> None:
            if failed:
                return
            try:
                write(name, *args)
            except errors as exc:
                failed.append(name)
                warn(f"warning: MLflow store {tracker.store.shown} failed while logging {name} ({first_line(exc)}); "
                     "the reruns go on unlogged: rerun with --no-track, or check the store")  # fmt: skip

        return logged

    def tracked(name: str, cfg: TrainConfig, fill: Callable[[TrainTracking], None]) -> None:
        run = TrainTracking(tracker, f"reproduce-{name}", cfg, parent_id=parent, kind="reproduce")
        try:
            fill(run)
        except errors:
            with contextlib.suppress(*errors):  # not left RUNNING where the store still answers
                tracker.end_run(run.run_id, failed=True)
            raise

    def log(name: str, cfg: TrainConfig, result: TrainResult, data: TrainData) -> None:
        def fill(run: TrainTracking) -> None:
            for metrics in result.history:
                run.on_epoch(metrics)
            run.finish(result, data, log_model=False)

        tracked(name, cfg, fill)

    def own_log(name: str, cfg: TrainConfig, history: list[dict[str, float]]) -> None:
        def fill(run: TrainTracking) -> None:
            for metrics in history:
                run.on_epoch(metrics)
            run.finish_own(history)

        tracked(name, cfg, fill)

    return guarded(log), guarded(own_log)
