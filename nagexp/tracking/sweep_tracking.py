"""The MLflow side of a sweep: parent run, a child run per trial, the best model.

Driven by the sweep recorder on the driver (a TrialListener), so it works unchanged with
trials on other machines and with a local sqlite store.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.provenance import git_sha, package_versions
from nagexp.sweep.records import TrialRecord, best_record, state_counts
from nagexp.sweep.spec import SweepSpec
from nagexp.tracking.tracker import Tracker, numeric_metrics
from nagexp.train.data import DataBundle

__all__ = ["SweepTracking"]

log = logging.getLogger(__name__)


class SweepTracking:
    def __init__(self, tracker: Tracker, spec: SweepSpec, data: DataBundle, warn: Any = print) -> None:
        self.tracker, self.spec, self.data, self.warn = tracker, spec, data, warn
        self.parent_id: str | None = None
        self.child_ids: dict[str, str] = {}  # trial id -> run id
        self._params_logged: set[str] = set()
        self.failed: str | None = None  # first tracking error; tracking stops, the sweep goes on

    # -- guarded calls: a tracking failure never stops or loses a trial ----------------------

    def _guard(self, what: str, fn: Any, *args: Any) -> Any:
        if self.failed:
            return None
        try:
            return fn(*args)
        except Exception as exc:  # the store went away mid-sweep: keep the results on disk
            self.failed = f"{what}: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc) else ''}"
            self.warn(f"warning: MLflow tracking stopped ({self.failed}); results stay in {self.spec.sweep_dir}")
            return None

    # -- sweep --------------------------------------------------------------------------

    def start(self) -> str:
        o, spec = self.spec.options, self.spec
        versions = package_versions()
        tags = {
            "nagexp.kind": "sweep",
            "seed": str(o.seed),
            "sampler": o.sampler,
            "scheduler": o.scheduler,
            "git_sha": git_sha() or "",
            "data_fingerprint": self.data.fingerprint,
            "objective": f"{spec.mode} {spec.metric}",
            **{f"version.{k}": v for k, v in versions.items()},
        }
        self.parent_id = self.tracker.start_run(spec.name, tags)
        params = {k: v for k, v in o.model_dump(mode="json").items() if k not in ("results_dir",)}
        params.update({f"fixed.{k}": v for k, v in spec.space.fixed.items()})
        self.tracker.log(self.parent_id, params=params, synchronous=True)
        self.tracker.log_text(self.parent_id, spec.space_text, f"space/{Path(o.space).name}")
        self.tracker.log_file(self.parent_id, spec.sweep_dir / "sweep.json")
        return self.parent_id

    def _child(self, rec: TrialRecord) -> str:
        run_id = self.child_ids.get(rec.trial_id)
        if run_id is None:
            tags = {"nagexp.kind": "trial", "trial_number": str(rec.number), "ray_trial_id": rec.trial_id,
                    "seed": str(rec.seed), "state": "running"}  # fmt: skip
            run_id = self.tracker.start_run(f"trial-{rec.number}", tags, parent_id=self.parent_id)
            self.child_ids[rec.trial_id] = run_id
        return run_id

    def _params_once(self, rec: TrialRecord) -> dict[str, Any]:
        if rec.trial_id in self._params_logged:
            return {}
        self._params_logged.add(rec.trial_id)
        try:
            return TrainConfig(**rec.config).model_dump(mode="json")  # every field, defaults included
        except Exception:  # an invalid sampled config (the trial errors): log what was sampled
            return dict(rec.config)

    # -- TrialListener --------------------------------------------------------------------

    def on_trial_start(self, rec: TrialRecord) -> None:
        self._guard("creating a trial run", self._child, rec)

    def on_trial_epoch(self, rec: TrialRecord, metrics: dict[str, Any]) -> None:
        def write() -> None:
            step = int(metrics.get("epoch", rec.epochs_run))
            self.tracker.log(self._child(rec), numeric_metrics(metrics), step=step, params=self._params_once(rec))

        self._guard("logging epoch metrics", write)

    def on_trial_end(self, rec: TrialRecord) -> None:
        def write() -> None:
            run_id = self._child(rec)
            finals = {f"final_{self.spec.metric}": rec.final, f"best_{self.spec.metric}": rec.best,
                      "epochs_run": float(rec.epochs_run), "trial_seconds": rec.seconds}  # fmt: skip
            finals = {k: float(v) for k, v in finals.items() if v is not None}
            tags = {"state": rec.state, "reason": rec.reason, "ray_node": rec.node_id}
            self.tracker.log(run_id, finals, step=rec.epochs_run, params=self._params_once(rec), tags=tags)
            self.tracker.end_run(run_id, failed=rec.state == "errored")
            if self.spec.options.log_models == "all" and rec.checkpoint_file:
                self._log_model(rec, run_id, registered=None)

        self._guard("finishing a trial run", write)

    # -- end of sweep -----------------------------------------------------------------------

    def _log_model(self, rec: TrialRecord, run_id: str, registered: str | None) -> None:
        from nagexp.tracking.artifacts import log_model, model_from_checkpoint

        self.tracker.flush()
        model = model_from_checkpoint(TrainConfig(**rec.config), self.data, Path(rec.checkpoint_file))
        log_model(self.tracker.store.uri, run_id, model, self.data, registered)

    def finish(self, records: list[TrialRecord], seconds: float) -> None:
        def write() -> None:
            from nagexp.tracking.artifacts import schedule_figure

            counts = state_counts(records)
            best = best_record(records, self.spec.mode)
            metrics = {f"trials_{k}": float(v) for k, v in counts.items() if k != "running"}
            metrics["sweep_seconds"] = seconds
            if best is not None and best.final is not None:
                metrics[f"best_{self.spec.metric}"] = best.final
                if best.test_acc is not None:
                    metrics["best_test_acc"] = best.test_acc
            self.tracker.log(self.parent_id, metrics, tags={"best_trial": str(best.number) if best else ""},
                             synchronous=True)  # fmt: skip
            if best is not None:
                o = self.spec.options
                best_run = self._child(best)
                self.tracker.log(best_run, tags={"best": "true"}, synchronous=True)
                if o.log_models == "best" and best.checkpoint_file:
                    self._log_model(best, best_run, o.register_model)
                elif o.log_models == "all" and o.register_model:  # already logged at the trial's end
                    import mlflow

                    from nagexp.tracking.artifacts import using_tracking_uri

                    with using_tracking_uri(self.tracker.store.uri):
                        mlflow.register_model(f"runs:/{best_run}/model", o.register_model)
                fig = schedule_figure(TrainConfig(**best.config), len(self.data.y_train))
                self.tracker.client.log_figure(best_run, fig, "schedules.png")
            self.tracker.flush()
            self.tracker.end_run(self.parent_id)

        self._guard("finishing the sweep run", write)
