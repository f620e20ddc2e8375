"""The MLflow side of a sweep: parent run, a child run per trial, the best model.

Driven by the sweep recorder on the driver (a TrialListener), so it works unchanged with
trials on other machines and with a local sqlite store. Every MLflow call runs on one
writer thread in the driver, in order: the Tune loop only queues work and never waits for
the store, and opening the store (importing MLflow, creating a new sqlite file: seconds)
overlaps with Ray starting the first trials. A failing store stops tracking with one
warning line; the sweep and its result files go on.

A resumed sweep finds its parent and child runs again (the parent is tagged with the sweep
folder, children with their trial number) and continues them: no run is made twice.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from nagexp.config.sweep import SweepSpec
from nagexp.core.errors import first_line
from nagexp.core.io import to_yaml
from nagexp.core.provenance import KERNELS_KEY, git_sha, package_versions
from nagexp.data.batches import TrainData
from nagexp.results.folders import SweepFolder
from nagexp.results.ranking import Ranking, best_trial, count_states, pareto_front
from nagexp.results.records import TrialRecord, TrialState
from nagexp.results.trial_report import EPOCH_KEY, TRIAL_NUMBER_KEY
from nagexp.runtime.ray_session import ray_address
from nagexp.tracking.tracker import Tracker, code_tags, config_params, numeric_metrics

__all__ = ["SweepTracking"]


class SweepTracking:
    def __init__(
        self,
        pending: Future[Tracker],
        spec: SweepSpec,
        data: TrainData | None,  # None: the trials run a function of the user's (no data, no model here)
        warn: Any = print,
        resume: dict[int, TrialRecord] | None = None,
        user_code: dict[str, Any] | None = None,
    ) -> None:
        self.pending, self.spec, self.data, self.warn = pending, spec, data, warn
        self.code_tags = code_tags(user_code)
        # the journal's records when resuming, copied now: the recorder goes on changing its own
        self.resume = None if resume is None else {n: dataclasses.replace(r, history=list(r.history))
                                                   for n, r in resume.items()}  # fmt: skip
        self.parent_id: str | None = None
        self.dataset_spec = str(spec.space.fixed.get("dataset", "digits"))
        self.child_ids: dict[int, str] = {}  # trial number -> run id (written by the writer thread only)
        self._params_logged: set[int] = set()
        self.failed: str | None = None  # first tracking error; tracking stops, the sweep goes on
        self.failed_with: BaseException | None = None  # that error itself (a full disk stops the sweep)
        self._queue: queue.Queue[tuple[str, Callable[[], None]] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="nagexp-mlflow-writer", daemon=True)
        self._writer.start()

    @property
    def tracker(self) -> Tracker:
        return self.pending.result()

    # -- the writer thread --------------------------------------------------------------

    def _write_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            what, work = item
            if self.failed:
                continue
            try:
                if self.parent_id is None:
                    self._find_parent() if self.resume is not None else self._start_parent()
                work()
            except Exception as exc:  # the store went away: keep the results on disk, warn once
                self.failed, self.failed_with = f"{what}: {type(exc).__name__}: {first_line(exc, 200)}", exc
                self.warn(f"warning: MLflow tracking stopped ({self.failed}); results stay in {self.spec.sweep_dir}")

    def _submit(self, what: str, work: Callable[[], None]) -> None:
        self._queue.put((what, work))

    # -- runs (writer thread) -----------------------------------------------------------------

    def _start_parent(self) -> None:
        o, spec = self.spec.options, self.spec
        tags = {
            "nagexp.kind": "sweep",
            "seed": str(o.seed),
            "sampler": o.sampler,
            "scheduler": o.scheduler,
            "git_sha": git_sha() or "",
            "data_fingerprint": self.data.fingerprint if self.data is not None else "",
            "objective": f"{spec.mode} {spec.metric}",
            "nagexp.sweep_dir": str(spec.sweep_dir),
            **{f"version.{k}": v for k, v in package_versions().items()},
            **self.code_tags,
        }
        self.parent_id = self.tracker.start_run(spec.name, tags, parent_id=o.mlflow_parent_run)
        params = {k: v for k, v in o.model_dump(mode="json").items()
                  if k not in ("results_dir", "tracking_uri", "mlflow_parent_run")}  # fmt: skip
        params["address"] = ray_address(o.address)  # as sweep.json records it: $RAY_ADDRESS's cluster too
        params.update({f"fixed.{k}": v for k, v in spec.space.fixed.items()})
        self.tracker.log(self.parent_id, params=params)
        self.tracker.log_text(self.parent_id, spec.space_text, f"space/{Path(o.space).name}")
        if self.data is not None:
            self.tracker.log_dataset(self.parent_id, self.data, self.dataset_spec)
        self.tracker.log_file(self.parent_id, SweepFolder(spec.sweep_dir).plan)
        from nagexp.tracking.artifacts import warm_up

        warm_up()  # model-logging imports, while the sweep runs

    def _find_parent(self) -> None:
        """Resume: continue the sweep's runs; the trials that never ended are open again."""
        parent_id, children = self.tracker.find_sweep_runs(self.spec.sweep_dir)
        if parent_id is None:  # the driver died before its parent run was made
            self._start_parent()
            return
        self.parent_id = parent_id
        self.tracker.reopen_run(parent_id)
        for number, (run_id, status, has_params) in children.items():
            self.child_ids[number] = run_id
            if has_params:
                self._params_logged.add(number)
            if status == "KILLED":  # stopped with Ctrl-C: its trial runs again now
                self.tracker.reopen_run(run_id)
        for rec in (self.resume or {}).values():
            self._catch_up(rec, children.get(rec.number, (None, "RUNNING", False))[1])
        from nagexp.tracking.artifacts import warm_up

        warm_up()

    def _catch_up(self, rec: TrialRecord, status: str) -> None:
        """Write what the journal holds and the dead driver's writer had not written yet."""
        run_id = self._child(rec)
        logged = {m.step for m in self.tracker.client.get_metric_history(run_id, self.spec.metric)}
        for metrics in rec.history:
            step = int(metrics.get(EPOCH_KEY, 0))
            if step not in logged:
                self.tracker.log(run_id, numeric_metrics(metrics), step=step, params=self._params_once(rec))
        if rec.state != TrialState.RUNNING and status in ("RUNNING", "KILLED"):
            self._end_trial(dataclasses.replace(rec, history=[]))

    def _child(self, rec: TrialRecord) -> str:
        run_id = self.child_ids.get(rec.number)
        if run_id is None:
            tags = {"nagexp.kind": "trial", TRIAL_NUMBER_KEY: str(rec.number), "ray_trial_id": rec.trial_id,
                    "seed": str(rec.seed), "state": TrialState.RUNNING, **self.code_tags}  # fmt: skip
            run_id = self.tracker.start_run(f"trial-{rec.number}", tags, parent_id=self.parent_id)
            if self.data is not None:
                self.tracker.log_dataset(run_id, self.data, self.dataset_spec)
            self.child_ids[rec.number] = run_id
        return run_id

    def _params_once(self, rec: TrialRecord) -> dict[str, Any]:
        if rec.number in self._params_logged:
            return {}
        self._params_logged.add(rec.number)
        try:
            # every field, defaults included (the trial's config as it started: params are logged once)
            return config_params(rec.train_config(self.spec.space.fixed).model_dump(mode="json"))
        except Exception:  # an invalid sampled config (the trial errors): log what was sampled
            return dict(rec.config)

    def _log_model(self, rec: TrialRecord, run_id: str, registered: str | None) -> None:
        from nagexp.tracking.artifacts import log_model, model_from_checkpoint

        if self.data is None:  # a function of the user's: its checkpoint is its own state, not a nagexp model
            return
        model = model_from_checkpoint(rec.train_config(self.spec.space.fixed), self.data, Path(rec.checkpoint_file))
        log_model(self.tracker.store.uri, run_id, model, self.data, registered)

    # -- TrialListener (Tune loop): queue only ------------------------------------------------

    def on_trial_start(self, rec: TrialRecord) -> None:
        snapshot = dataclasses.replace(rec, history=[])
        self._submit("creating a trial run", lambda: self._child(snapshot))

    def on_trial_epoch(self, rec: TrialRecord, metrics: dict[str, Any]) -> None:
        snapshot, values = dataclasses.replace(rec, history=[]), numeric_metrics(metrics)
        step = int(metrics.get(EPOCH_KEY, rec.epochs_run))

        def write() -> None:  # one store write per trial per epoch
            self.tracker.log(self._child(snapshot), values, step=step, params=self._params_once(snapshot))

        self._submit("logging epoch metrics", write)

    def on_trial_end(self, rec: TrialRecord) -> None:
        snapshot = dataclasses.replace(rec, history=[])
        self._submit("finishing a trial run", lambda: self._end_trial(snapshot))

    def _end_trial(self, snapshot: TrialRecord) -> None:
        run_id = self._child(snapshot)
        finals = {f"final_{self.spec.metric}": snapshot.final, f"best_{self.spec.metric}": snapshot.best,
                  "epochs_run": float(snapshot.epochs_run), "trial_seconds": snapshot.seconds}  # fmt: skip
        tags = {"state": snapshot.state, "reason": snapshot.reason, "ray_node": snapshot.node_id,
                KERNELS_KEY: snapshot.cpu_kernels, "retries": str(snapshot.retries)}  # fmt: skip
        if self.spec.population:  # a member: its exploits as a tag (an own function's too), its schedule as a file
            tags["pbt.exploits"] = "; ".join(f"after epoch {e['epoch']}: copied trial {e['from']}"
                                             for e in snapshot.exploits) or "none"  # fmt: skip
        if snapshot.schedule is not None:  # nagexp's trainer exports the piecewise schedule it ran
            self.tracker.log_text(run_id, to_yaml(snapshot.schedule), "schedule.yaml")
        self.tracker.log(run_id, {k: float(v) for k, v in finals.items() if v is not None},
                         step=snapshot.epochs_run, params=self._params_once(snapshot), tags=tags)  # fmt: skip
        self.tracker.end_run(run_id, failed=snapshot.state == TrialState.ERRORED)
        if self.spec.options.log_models == "all" and snapshot.checkpoint_file:
            self._log_model(snapshot, run_id, registered=None)

    # -- end of sweep ---------------------------------------------------------------------------

    def summary(self, records: list[TrialRecord]) -> dict[str, Any]:
        """Where the sweep's runs are, for summary.json (after `finish` or `interrupt`)."""
        return {
            "experiment": self.spec.options.experiment,
            "parent_run_id": self.parent_id,
            "trial_run_ids": {str(r.number): self.child_ids.get(r.number) for r in records},
            "error": self.failed,
        }

    def interrupt(self, records: list[TrialRecord]) -> None:
        """Ctrl-C: the runs of unfinished trials and the parent end as KILLED (a resume reopens them)."""
        unfinished = [dataclasses.replace(r, history=[]) for r in records if r.state == TrialState.RUNNING]

        def write() -> None:
            for rec in unfinished:
                if rec.number in self.child_ids:
                    self.tracker.log(self.child_ids[rec.number], tags={"state": "interrupted"})
                    self.tracker.end_run(self.child_ids[rec.number], status="KILLED")
            if self.parent_id is not None:
                self.tracker.end_run(self.parent_id, status="KILLED")

        self._submit("closing the interrupted runs", write)
        self._queue.put(None)
        self._writer.join()

    def finish(self, records: list[TrialRecord], seconds: float) -> None:
        """Summary metrics, the best child's tag, model and schedule figure; then wait for
        the writer to drain."""
        self._submit("finishing the sweep run", lambda: self._finish(records, seconds))
        self._queue.put(None)
        self._writer.join()

    def _finish(self, records: list[TrialRecord], seconds: float) -> None:
        from nagexp.tracking.artifacts import log_schedule_figure, using_tracking_uri

        counts = count_states(records)
        ranking = Ranking.of(self.spec.space, self.spec.options.pick)
        best = best_trial(records, ranking)
        metrics = {f"trials_{k}": float(v) for k, v in counts.items() if k != TrialState.RUNNING}
        metrics["sweep_seconds"] = seconds
        if best is not None and best.final is not None:
            metrics[f"best_{self.spec.metric}"] = best.final
            if best.test_acc is not None:
                metrics["best_test_acc"] = best.test_acc
        self.tracker.log(self.parent_id, metrics, tags={"best_trial": str(best.number) if best else ""})
        if ranking.several:  # the Pareto front: a tag on each of its runs, and the list on the sweep's
            front = pareto_front(records, ranking)
            for t in front:
                self.tracker.log(self._child(t), tags={"pareto_front": "true"})
            self.tracker.log(self.parent_id, tags={"pareto_front": ",".join(str(t.number) for t in front)})
        if best is not None:
            o = self.spec.options
            best_run = self._child(best)
            self.tracker.log(best_run, tags={"best": "true"})
            if o.log_models == "best" and best.checkpoint_file:
                self._log_model(best, best_run, o.register_model)
            elif o.log_models == "all" and o.register_model:  # already logged when the trial ended
                import mlflow

                with using_tracking_uri(self.tracker.store.uri):
                    mlflow.register_model(f"runs:/{best_run}/model", o.register_model)
            if self.data is not None:  # the built-in trainer's schedules
                log_schedule_figure(self.tracker.client, best_run, best.train_config(self.spec.space.fixed),
                                    self.data.train_size)  # fmt: skip
        self.tracker.end_run(self.parent_id)
