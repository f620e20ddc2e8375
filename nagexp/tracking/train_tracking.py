"""MLflow for `nagexp train`: one run with the config as params, per-epoch metrics, the model."""

from __future__ import annotations

from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.provenance import git_sha, package_versions
from nagexp.tracking.tracker import Tracker, numeric_metrics
from nagexp.train.data import DataBundle
from nagexp.train.trainer import TrainResult

__all__ = ["TrainTracking"]


class TrainTracking:
    def __init__(self, tracker: Tracker, name: str, cfg: TrainConfig, parent_id: str | None = None,
                 kind: str = "train") -> None:  # fmt: skip
        self.tracker, self.cfg = tracker, cfg
        tags = {"nagexp.kind": kind, "seed": str(cfg.seed), "git_sha": git_sha() or "",
                **{f"version.{k}": v for k, v in package_versions().items()}}  # fmt: skip
        self.run_id = tracker.start_run(name, tags, parent_id=parent_id)
        tracker.log(self.run_id, params=cfg.model_dump(mode="json"))

    def on_epoch(self, metrics: dict[str, Any]) -> None:
        self.tracker.log(self.run_id, numeric_metrics(metrics), step=int(metrics["epoch"]))

    def finish(self, result: TrainResult, data: DataBundle, log_model: bool = True,
               tags: dict[str, str] | None = None) -> None:  # fmt: skip
        from nagexp.tracking.artifacts import log_model as log_torch_model
        from nagexp.tracking.artifacts import schedule_figure

        state = "diverged" if result.diverged else "completed"
        tags = {"state": state, "reason": result.diverged_reason or "", "data_fingerprint": data.fingerprint,
                **(tags or {})}  # fmt: skip
        self.tracker.log(self.run_id, {"epochs_run": float(result.epochs_run), "train_seconds": result.seconds},
                         step=result.epochs_run, tags=tags)  # fmt: skip
        if log_model:
            log_torch_model(self.tracker.store.uri, self.run_id, result.model, data)
            self.tracker.client.log_figure(self.run_id, schedule_figure(self.cfg, len(data.y_train)), "schedules.png")
        self.tracker.end_run(self.run_id)
