"""MLflow for `nagexp train`: one run with the config as params, per-epoch metrics, the model.

Epoch metrics are written by one background thread, in order, so the training loop never
waits for the store (a sqlite write costs milliseconds; an epoch of a small model, tenths
of a second). `flush()` and `finish()` wait for them and raise the first write error.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.core.io import to_yaml
from nagexp.core.provenance import git_sha, package_versions
from nagexp.data.batches import TrainData
from nagexp.results.records import TrialState
from nagexp.tracking.tracker import Tracker, code_tags, config_params, numeric_metrics
from nagexp.training.trainer import TrainResult

__all__ = ["TrainTracking"]


class TrainTracking:
    def __init__(self, tracker: Tracker, name: str, cfg: TrainConfig, parent_id: str | None = None,
                 kind: str = "train", user_code: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.tracker, self.cfg = tracker, cfg
        tags = {"nagexp.kind": kind, "seed": str(cfg.seed), "git_sha": git_sha() or "",
                **{f"version.{k}": v for k, v in package_versions().items()}, **code_tags(user_code)}  # fmt: skip
        self.run_id = tracker.start_run(name, tags, parent_id=parent_id)
        config = cfg.model_dump(mode="json")
        tracker.log(self.run_id, params=config_params(config))
        tracker.log_text(self.run_id, to_yaml(config), "config.yaml")  # whole, where a param is cut short
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nagexp-mlflow-epochs")
        self._pending: list[Future] = []

    def on_epoch(self, metrics: dict[str, Any]) -> None:
        values, step = numeric_metrics(metrics), int(metrics["epoch"])
        self._pending.append(self._writer.submit(self.tracker.log, self.run_id, values, step=step))

    def flush(self) -> None:
        """Wait until every queued epoch is in the store; raise the first write error."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def finish_own(self, history: list[dict[str, float]]) -> None:
        """End the run of a training function of the user's: its epochs are logged; no data,
        model or schedule of nagexp's to add."""
        self.flush()
        self._writer.shutdown()
        last = history[-1] if history else {}
        reason = next((f"{k} is {v}" for k, v in last.items() if not math.isfinite(v)), "")  # it ended there
        state = TrialState.DIVERGED if reason else TrialState.COMPLETED
        self.tracker.log(self.run_id, {"epochs_run": float(len(history))}, step=len(history),
                         tags={"state": state, "reason": reason})  # fmt: skip
        self.tracker.end_run(self.run_id)

    def finish(self, result: TrainResult, data: TrainData, log_model: bool = True,
               tags: dict[str, str] | None = None) -> None:  # fmt: skip
        from nagexp.tracking.artifacts import log_model as log_torch_model
        from nagexp.tracking.artifacts import log_schedule_figure

        self.flush()
        self._writer.shutdown()
        state = TrialState.DIVERGED if result.diverged else TrialState.COMPLETED
        tags = {"state": state, "reason": result.diverged_reason or "", "data_fingerprint": data.fingerprint,
                **(tags or {})}  # fmt: skip
        self.tracker.log_dataset(self.run_id, data, self.cfg.dataset)
        self.tracker.log(self.run_id, {"epochs_run": float(result.epochs_run), "train_seconds": result.seconds},
                         step=result.epochs_run, tags=tags)  # fmt: skip
        if log_model:
            log_torch_model(self.tracker.store.uri, self.run_id, result.model, data)
            log_schedule_figure(self.tracker.client, self.run_id, self.cfg, data.train_size)
        self.tracker.end_run(self.run_id)
