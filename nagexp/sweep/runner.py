"""Run a sweep: Optuna (define-by-run, seeded sampler, sqlite storage) proposes, Ray Tune
runs the trials (ASHA or FIFO, resources per trial, reused actors), the driver records.

This is the only module that builds Tune objects; the dataset is loaded once here and
shared with every trial through Ray's object store.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nagexp.errors import ConfigError, NagexpError
from nagexp.sweep.lock import SweepLock
from nagexp.sweep.plan import write_plan
from nagexp.sweep.progress import LiveView
from nagexp.sweep.records import (
    TrialRecord,
    best_record,
    state_counts,
    write_best_yaml,
    write_summary,
    write_trials_csv,
)
from nagexp.sweep.spec import SweepSpec

if TYPE_CHECKING:
    from nagexp.sweep.recorder import TrialListener
from nagexp.train.data import DataBundle, load_dataset_for

__all__ = ["SweepOutcome", "connect_ray", "run_sweep"]

# Ray Tune settings that cost time per trial and that nagexp replaces: its own result files
# (trials.csv) instead of Ray's CSV/JSON/TensorBoard loggers, and experiment snapshots
# every 10 s instead of after every result.
_RAY_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_GLOBAL_CHECKPOINT_S": "10",
    "RAY_AIR_NEW_OUTPUT": "0",  # the legacy reporter honours verbose=0; nagexp prints its own view
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "100",
    "RAY_DEDUP_LOGS": "0",
}


@dataclass
class SweepOutcome:
    spec: SweepSpec
    records: list[TrialRecord]
    best: TrialRecord | None
    seconds: float
    interrupted: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return state_counts(self.records)

    @property
    def succeeded(self) -> bool:
        """At least one trial gave a usable result (ran all epochs, or was stopped early)."""
        c = self.counts
        return c["completed"] + c["pruned"] > 0


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a dead `host:port` (ray.init would retry for minutes)."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or address == "auto":
        return  # "auto" and other forms: let Ray resolve them
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise NagexpError(
            f"cannot connect to the Ray cluster at '{address}': {exc.strerror or exc}; "
            "check --address and that the cluster is up (`ray status` on its head node)"
        ) from None


def connect_ray(address: str | None, num_cpus: int | None = None) -> bool:
    """Join `address` or start Ray locally; returns True when this call started it."""
    for key, value in _RAY_ENV.items():
        os.environ.setdefault(key, value)
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                              "configure_logging": True}  # fmt: skip
    try:
        if address:
            _check_reachable(address)
            ray.init(address=address, **kwargs)
        else:
            # "local" always starts a fresh runtime; a bare ray.init() would join any cluster
            # that `ray start` left running on this machine.
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at '{address}'" if address else "a local Ray runtime"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NagexpError(f"cannot connect to {where}: {first}; check --address and that the cluster is up") from None
    return True


def _check_resources(spec: SweepSpec) -> dict[str, float]:
    import ray

    total = ray.cluster_resources()
    cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
    o = spec.options
    if o.cpus_per_trial > cpus:
        raise ConfigError(f"--cpus-per-trial {o.cpus_per_trial:g} is more than the {cpus:g} CPUs Ray has")
    if o.gpus_per_trial > gpus:
        raise ConfigError(
            f"--gpus-per-trial {o.gpus_per_trial:g} is more than the {gpus:g} GPUs Ray has"
            + ("; leave it at 0 on a machine without GPUs" if gpus == 0 else "")
        )
    return {"CPU": cpus, "GPU": gpus}


def _refuse_existing(spec: SweepSpec) -> None:
    if not spec.sweep_dir.exists():
        return
    from nagexp.sweep.resume import sweep_state

    hint = "pick another --name"
    if sweep_state(spec.sweep_dir) != "finished":
        hint = f"continue it with `nagexp sweep --resume {spec.name}{_results_flag(spec)}` or {hint}"
    raise ConfigError(f"sweep '{spec.name}' already exists in {spec.results_dir}; {hint}")


def _results_flag(spec: SweepSpec) -> str:
    return "" if spec.results_dir == Path("results").resolve() else f" --results-dir {spec.results_dir}"


def _prepare_dir(spec: SweepSpec) -> None:
    try:
        spec.sweep_dir.mkdir(parents=True)
    except FileExistsError:  # another driver took the name a moment ago
        _refuse_existing(spec)
        raise
    except OSError as exc:
        raise NagexpError(f"cannot create '{spec.sweep_dir}': {exc.strerror}; pass a writable --results-dir") from None


class _StopRequest:
    """Ctrl-C (or SIGTERM) during fit(): Tune is asked to stop; it saves the experiment's
    state and returns. A second Ctrl-C quits at once."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.requested = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested or signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.SIG_IGN, None):
            raise KeyboardInterrupt  # a second Ctrl-C, or Tune's loop has not started: quit now
        self.requested = True
        self.say("\nstopping: saving the sweep's state (Ctrl-C again to quit at once)")
        # Tune's own stop signal: it ends the loop, snapshots the experiment, stops the trials
        os.kill(os.getpid(), signal.SIGUSR1)

    def __enter__(self) -> _StopRequest:
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours asks Tune to stop through SIGUSR1
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _trainable(spec: SweepSpec, data: DataBundle, settled: frozenset[int] = frozenset()) -> Any:
    from ray import tune

    from nagexp.sweep.trainable import run_trial

    resources = {"cpu": spec.options.cpus_per_trial, "gpu": spec.options.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(run_trial, data=data, settled=settled), resources)


def _restored_tuner(spec: SweepSpec, data: DataBundle, records: dict[int, TrialRecord]) -> Any:
    """Tune's restore of the experiment: unfinished and errored trials go on from their last
    checkpoints; trials the journal shows finished end at once (Tune's snapshot can be older)."""
    from ray import tune

    settled = frozenset(n for n, r in records.items() if r.state not in ("running", "errored"))
    # a settled trial ends without reporting a result; Tune's strict check would call that an error
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    return tune.Tuner.restore(str(spec.sweep_dir / "ray"), _trainable(spec, data, settled),
                              resume_unfinished=True, resume_errored=True)  # fmt: skip


def _close_running_optuna(spec: SweepSpec) -> int:
    """Fail the Optuna trials left RUNNING once the sweep is over (none are left normally)."""
    import optuna

    study = optuna.load_study(study_name=spec.name, storage=f"sqlite:///{spec.sweep_dir / 'optuna.db'}")
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for t in running:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    return len(running)


def _tuner(spec: SweepSpec, data: DataBundle, recorder: Any) -> Any:
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from nagexp.space import define_by_run, make_sampler
    from nagexp.sweep.searcher import PruningAwareOptunaSearch

    o = spec.options
    storage = optuna.storages.RDBStorage(f"sqlite:///{spec.sweep_dir / 'optuna.db'}")
    searcher = PruningAwareOptunaSearch(
        space=define_by_run(spec.space, o.seed),
        metric=spec.metric,
        mode=spec.mode,
        sampler=make_sampler(o.sampler, o.seed),
        study_name=spec.name,
        storage=storage,
        total_trials=o.trials,
    )
    if o.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            metric=spec.metric,
            mode=spec.mode,
            max_t=spec.epochs,
            grace_period=min(spec.space.asha.grace_period, spec.epochs),
            reduction_factor=spec.space.asha.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        _trainable(spec, data),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=o.trials,
            max_concurrent_trials=o.max_concurrent,
            reuse_actors=True,
            time_budget_s=o.time_budget,
        ),
        run_config=tune.RunConfig(
            name="ray",
            storage_path=str(spec.sweep_dir),
            callbacks=[recorder],
            verbose=0,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            # a trial whose worker dies is retried from its last epoch's checkpoint
            failure_config=tune.FailureConfig(max_failures=o.max_failures),
        ),
    )


def _check_tracking(spec: SweepSpec) -> Any:
    """The MLflow store, checked before anything is loaded or run (None when tracking is off).

    A tracking server is opened right away, so one that refuses writes stops the sweep
    here. A local sqlite store is only checked writable: opening it (importing MLflow,
    creating a new store: seconds) happens in the background while Ray starts the trials.
    """
    if not spec.options.track:
        return None
    from nagexp.tracking.store import check_reachable, resolve_store
    from nagexp.tracking.tracker import Tracker

    store = resolve_store(spec.options.tracking_uri, spec.results_dir, spec.options.experiment)
    check_reachable(store)
    return store, None if store.is_local else Tracker(store)


def _tracker_when_ready(store: Any, opened: Any) -> Future:
    """The tracker: the one already open, or a local store opening in the background."""
    if opened is not None:
        ready: Future = Future()
        ready.set_result(opened)
        return ready
    from nagexp.tracking.tracker import Tracker

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nagexp-mlflow-open")
    pending = pool.submit(Tracker, store)
    pool.shutdown(wait=False)
    return pending


def _summary(outcome: SweepOutcome, store: Any, tracking: Any) -> dict[str, Any]:
    """summary.json: how the sweep ended, and where its MLflow runs are."""
    spec, best = outcome.spec, outcome.best
    mlflow = None
    if tracking is not None:
        mlflow = {
            "tracking_uri": store.shown,
            "experiment": spec.options.experiment,
            "parent_run_id": tracking.parent_id,
            "trial_run_ids": {str(r.number): tracking.child_ids.get(r.number) for r in outcome.records},
            "error": tracking.failed,
        }
    return {
        "name": spec.name,
        "state": "interrupted" if outcome.interrupted else "finished",
        "trials_planned": spec.options.trials,
        "counts": outcome.counts,
        "metric": spec.metric,
        "mode": spec.mode,
        "best_trial": best.number if best else None,
        "best_value": best.final if best else None,
        "best_test_acc": best.test_acc if best else None,
        "seconds": round(outcome.seconds, 2),
        "mlflow": mlflow,
    }


def run_sweep(
    spec: SweepSpec,
    emit: Callable[[str], None] | None = None,
    listeners: list[TrialListener] | None = None,
    resume: bool = False,
) -> SweepOutcome:
    """Run the whole sweep (or, with `resume`, continue an interrupted one) and write
    results/<sweep>/; returns every trial's record.

    `listeners` are told about every trial as it starts, reports an epoch and ends."""
    started = time.monotonic()
    say = emit or print
    if not resume:
        _refuse_existing(spec)
    tracking_check = _check_tracking(spec)  # an unusable store fails here: nothing loaded or run
    data = load_dataset_for(spec.space.train_config({}))  # once per sweep, shared with all trials
    say(data.report.summary())
    started_ray = connect_ray(spec.options.address)
    lock = SweepLock(spec.sweep_dir)
    try:
        resources = _check_resources(spec)
        if resume:
            lock.acquire()  # before reading anything a live driver may still be writing
        else:
            _prepare_dir(spec)
            lock.acquire()
            write_plan(spec, data, resources, sys.argv)
        return _run_locked(spec, data, say, emit, listeners or [], resume, tracking_check, started)
    finally:
        lock.release()
        if started_ray:
            import ray

            ray.shutdown()


def _run_locked(
    spec: SweepSpec,
    data: DataBundle,
    say: Callable[[str], None],
    emit: Callable[[str], None] | None,
    listeners: list[TrialListener],
    resume: bool,
    tracking_check: Any,
    started: float,
) -> SweepOutcome:
    from nagexp.sweep.journal import replay
    from nagexp.sweep.recorder import SweepRecorder

    journal_records = replay(spec.sweep_dir / "journal.jsonl", spec.metric, spec.mode) if resume else {}
    restorable = resume and _can_restore(spec)
    if resume:
        done = sum(r.state != "running" for r in journal_records.values())
        say(f"resuming sweep {spec.name}: {done} of {spec.options.trials} trials finished before")
        if not restorable and journal_records:
            raise NagexpError(
                f"cannot resume '{spec.name}': Ray Tune saved no state in {spec.sweep_dir / 'ray'}; "
                "start a new sweep under another --name"
            )
    tracking = store = None
    if tracking_check is not None:
        from nagexp.tracking.sweep_tracking import SweepTracking

        # a local store opens in the background only now: a sweep that cannot start leaves no store
        store, opened = tracking_check
        resumed = journal_records if resume else None
        tracking = SweepTracking(_tracker_when_ready(store, opened), spec, data, warn=say, resume=resumed)
        listeners.append(tracking)
        say(f"MLflow: experiment '{spec.options.experiment}' at {store.shown}, parent run '{spec.name}'")
    view = LiveView(spec.options.trials, spec.metric, spec.mode, emit)
    param_names = list(spec.space.params)
    trials_csv = spec.sweep_dir / "trials.csv"
    recorder = SweepRecorder(trials_csv, param_names, spec.metric, spec.mode, view, listeners, journal_records)
    with recorder, _StopRequest(say) as stop:
        try:
            tuner = _restored_tuner(spec, data, journal_records) if restorable else _tuner(spec, data, recorder)
            tuner.fit()
        finally:
            view.close()
    records = sorted(recorder.records.values(), key=lambda r: r.number)
    if not stop.requested:
        for r in records:  # trials Tune never finished (e.g. the time budget ran out mid-start)
            if r.state == "running":
                r.state = "pruned" if r.epochs_run else "errored"
                r.reason = r.reason or "stopped when the sweep ended"
                for listener in listeners:
                    listener.on_trial_end(r)
        _close_running_optuna(spec)
    write_trials_csv(trials_csv, records, param_names, spec.metric)
    best = best_record(records, spec.mode)
    if best is not None:
        write_best_yaml(spec.sweep_dir / "best.yaml", best, spec.metric)
    outcome = SweepOutcome(spec, records, best, time.monotonic() - started, interrupted=stop.requested)
    if tracking is not None:
        if stop.requested:
            tracking.interrupt(records)
        else:
            tracking.finish(records, outcome.seconds)
    write_summary(spec.sweep_dir / "summary.json", _summary(outcome, store, tracking))
    return outcome


def _can_restore(spec: SweepSpec) -> bool:
    from ray import tune

    return tune.Tuner.can_restore(str(spec.sweep_dir / "ray"))
