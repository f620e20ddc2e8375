"""MLflow for `nagexp reproduce`: reruns logged under the sweep's parent run, and a store that
fails while they log is one warning, never the end of the reruns."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow import MlflowClient

from nagexp.config import TrainConfig
from nagexp.tracking.rerun_tracking import rerun_loggers
from nagexp.tracking.store import resolve_store
from nagexp.tracking.tracker import Tracker

HISTORY = [{"epoch": 1, "val_acc": 0.5, "val_loss": 1.0}, {"epoch": 2, "val_acc": 0.6, "val_loss": 0.9}]


def tracked_sweep(tmp_path: Path) -> tuple[Path, str, str]:
    """A sweep folder whose summary.json names a real sqlite store and its parent run."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(resolve_store(uri, tmp_path, "reruns"))
    parent = tracker.start_run("sweep", {})
    sweep_dir = tmp_path / "results" / "s"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "summary.json").write_text(json.dumps(
        {"name": "s", "mlflow": {"parent_run_id": parent, "tracking_uri": uri, "experiment": "reruns"}}))
    return sweep_dir, uri, parent


def test_reruns_log_under_the_parent_and_a_failing_store_is_one_warning(tmp_path: Path) -> None:
    sweep_dir, uri, parent = tracked_sweep(tmp_path)
    warnings: list[str] = []
    log, own_log = rerun_loggers(sweep_dir, tmp_path / "results", None, warn=warnings.append)
    assert log is not None and own_log is not None
    cfg = TrainConfig(dataset="digits", epochs=2)
    own_log("trial-0-rerun", cfg, HISTORY)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("reruns")
    (child,) = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    assert child.info.run_name == "reproduce-trial-0-rerun" and child.data.metrics["val_acc"] == 0.6
    assert warnings == []

    client.delete_experiment(experiment.experiment_id)  # the store refuses new runs from now on
    own_log("trial-0-seed-1", cfg, HISTORY)  # no exception: the rerun's result is not lost
    own_log("trial-0-seed-2", cfg, HISTORY)
    assert len(warnings) == 1 and "failed while logging trial-0-seed-1" in warnings[0]
    assert "\n" not in warnings[0] and "--no-track" in warnings[0]


def test_an_untracked_sweep_has_no_loggers(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "results" / "s"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "summary.json").write_text(json.dumps({"name": "s", "mlflow": None}))
    assert rerun_loggers(sweep_dir, tmp_path / "results", None, warn=print) == (None, None)
