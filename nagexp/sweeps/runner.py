"""Run a sweep, step by step: check what can be checked before anything starts, load the
data once, start (or join) Ray, claim the sweep's folder, let Tune run the trials (Optuna
proposes, the scheduler stops early, the recorder writes), then write the results.

Each step's work lives in its own module; this one only orders them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nagexp.config.sweep import SweepSpec
from nagexp.core.clock import take_command_start
from nagexp.core.errors import NagexpError
from nagexp.core.process_settings import restored_process_settings
from nagexp.core.wording import counted
from nagexp.results.folders import SweepFolder
from nagexp.results.lock import SweepLock
from nagexp.results.ranking import Ranking
from nagexp.results.records import TrialRecord, TrialState
from nagexp.results.trial_report import is_last_epoch
from nagexp.runtime.ray_session import connect_ray, ray_settings, running_cluster, shutdown_ray
from nagexp.runtime.user_code import CodeSnapshot
from nagexp.search.warm_start import SearchStart, search_start
from nagexp.sweeps.checks import check_models, check_schedules, check_tracking, check_trainer, user_code
from nagexp.sweeps.folder import check_creatable, create_sweep_dir, refuse_existing
from nagexp.sweeps.outcome import SweepOutcome, write_outcome, write_summary_of
from nagexp.sweeps.plan import write_sweep_plan
from nagexp.sweeps.resources import OWN_DATA, check_resources, concurrency_line, data_cpus

if TYPE_CHECKING:
    from nagexp.data.batches import TrainData
    from nagexp.sweeps.recorder import TrialListener
    from nagexp.tracking.opening import CheckedStore

__all__ = ["SweepOutcome", "run_sweep"]


@dataclass
class _Sweep:
    """What the steps after start-up share."""

    spec: SweepSpec
    data: TrainData | None  # None: the trials run a function of the user's, which reads its own
    say: Callable[[str], None]
    emit: Callable[[str], None] | None
    listeners: list[TrialListener]
    started: float  # time.monotonic() at the start
    code: CodeSnapshot | None  # the user's code, when a model or dataset is theirs
    code_dir: Path | None  # where workers import it from when Ray could not ship the snapshot
    start: SearchStart | None = None  # a new sweep's warm start and enqueued configs


def run_sweep(
    spec: SweepSpec,
    emit: Callable[[str], None] | None = None,
    listeners: list[TrialListener] | None = None,
    resume: bool = False,
    command: str | None = None,
    own_runtime: bool = False,
) -> SweepOutcome:
    """Run the whole sweep (or, with `resume`, continue an interrupted one) and write
    results/<sweep>/; returns every trial's record.

    `command` is recorded in sweep.json as the way the sweep was started (the CLI passes
    its command line). `own_runtime`: the Ray runtime this process runs is one nagexp started
    for the command that calls (`nagexp compare`, for its arms), which ends with it: sweep.json
    records no cluster, as for a runtime the sweep starts itself. `listeners` are told about
    every trial as it starts, reports an epoch and ends. The process's settings (environment,
    logging levels, signal handlers) are as before when it returns, however it ends."""
    with restored_process_settings(), ray_settings():
        return _run(spec, emit, listeners, resume, command, own_runtime)


def _run(spec: SweepSpec, emit: Callable[[str], None] | None, listeners: list[TrialListener] | None, resume: bool,
         command: str | None, own_runtime: bool) -> SweepOutcome:  # fmt: skip
    started = take_command_start()
    say = emit or print
    # 1. what needs nothing started (see checks.py; `--dry-run` runs the same): the name is
    # free and its folder can be made, the MLflow store answers, the user's code folder is importable here and hashed
    if not resume:
        refuse_existing(spec)
    checked = check_tracking(spec)  # before: a tracked sweep's store is the first thing made in results_dir
    if not resume:
        check_creatable(spec)
    code = user_code(spec, say, resume)
    if spec.own_trainer:  # imports, is a function, takes (config, report): before anything starts
        check_trainer(spec.trainer)
    start = None if resume else search_start(spec, say)  # earlier sweeps read, nothing written
    # 2. the data (once per sweep, shared with every trial through Ray's object store) is
    # read while Ray starts: each takes seconds, and Ray's start mostly waits on its processes
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nagexp-data") as pool:
        loading = pool.submit(_load_data, spec, say)
        connected_here = connect_ray(spec.options.address, code=code)
    if not (connected_here or own_runtime or spec.options.address):  # Ray ran here already (a notebook's):
        # sweep.json names that cluster
        spec = spec.model_copy(update={"options": spec.options.model_copy(update={"address": running_cluster()})})
    lock = SweepLock(spec.sweep_dir)
    try:
        data = loading.result()  # a bad dataset fails here, before anything is written
        mode = OWN_DATA if data is None else data.mode  # an own function's trials load their own data
        if data is not None:
            spec = _with_data_mode(spec, data.mode)
            say(data.report.summary())
            # 3. every model the trials can build trains on this data; the resources they ask for
            check_models(spec, data)
            check_schedules(spec, data)
        else:
            say(f"trainer {spec.trainer}: your function loads its own data (nagexp loads, hashes and checks none)")
        resources = check_resources(spec.options, data_cpus(mode), spec.workers, spec.space.fixed)
        say(concurrency_line(spec.options, mode, spec.workers, resumed=resume))
        # 4. the sweep's folder: created with its plan, or (resume) taken over; one driver only
        if not resume:
            create_sweep_dir(spec)
        lock.acquire()
        if not resume:
            write_sweep_plan(spec, data, resources, command, code, start)
        # 5. the trials, then the results. When Ray was already running in this process (a
        # notebook, tests), its workers cannot be given the code snapshot: they import the
        # code folder itself, which they see on this machine or a shared file system.
        code_dir = code.root if code and not connected_here else None
        sweep = _Sweep(spec, data, say, emit, list(listeners or []), started, code, code_dir, start)
        return _run_trials(sweep, resume, checked)
    finally:
        lock.release()
        shutdown_ray(connected_here)


def _load_data(spec: SweepSpec, say: Callable[[str], None]) -> TrainData | None:
    """The sweep's data in its mode (memory or stream); torch is imported here, beside Ray's start.
    None for a training function of the user's, which reads its own."""
    if spec.own_trainer:
        return None
    from nagexp.data.loading import load_train_data
    from nagexp.data.prepared.store import cache_dir_for

    cache = cache_dir_for(spec.options.cache_dir, spec.results_dir)
    cfg = spec.space.train_config({})
    gpu_share = spec.options.gpus_per_trial if cfg.device != "cpu" else 0.0
    return load_train_data(cfg, cache, spec.options.memory_budget, say, gpu_share)


def _with_data_mode(spec: SweepSpec, mode: str) -> SweepSpec:
    """`auto` resolved: every trial's config (and best.yaml) names the mode it trained in."""
    fixed = {**spec.space.fixed, "data_mode": mode}
    return spec.model_copy(update={"space": spec.space.model_copy(update={"fixed": fixed})})


def _journal_for_resume(sweep: _Sweep) -> dict[int, TrialRecord]:
    """The journal's records of an interrupted sweep; refuses one Tune cannot restore."""
    from nagexp.results.journal import replay
    from nagexp.search.study import check_study as _check_study
    from nagexp.sweeps.own_trial import restart_notice
    from nagexp.sweeps.tune_setup import can_restore

    spec = sweep.spec
    _check_study(spec)
    records = replay(SweepFolder(spec.sweep_dir).journal, spec.metric, spec.mode)
    done = sum(r.state != TrialState.RUNNING for r in records.values())
    sweep.say(f"resuming sweep {spec.name}: {done} of {counted(spec.options.trials, 'trial')} finished before")
    if spec.own_trainer and (notice := restart_notice(spec.trainer, records)):
        sweep.say(notice)
    if records and not can_restore(spec):
        raise NagexpError(
            f"cannot resume '{spec.name}': Ray Tune saved no state in {SweepFolder(spec.sweep_dir).tune_experiment}; "
            "start a new sweep under another --name"
        )
    return records


def _open_tracking(sweep: _Sweep, checked: CheckedStore, resumed: dict[int, TrialRecord] | None) -> Any:
    from nagexp.tracking.opening import open_tracker
    from nagexp.tracking.sweep_tracking import SweepTracking

    tracking = SweepTracking(open_tracker(checked), sweep.spec, sweep.data, warn=sweep.say, resume=resumed,
                             user_code=sweep.code.record() if sweep.code else None)  # fmt: skip
    sweep.listeners.append(tracking)
    sweep.say(f"MLflow: experiment '{sweep.spec.options.experiment}' at {checked.store.shown}, "
              f"parent run '{sweep.spec.name}'")  # fmt: skip
    return tracking


def _run_trials(sweep: _Sweep, resume: bool, checked: CheckedStore | None) -> SweepOutcome:
    from nagexp.integrations.ray_tune import callbacks_counted_without_mlflow, without_missing_result_file_warnings
    from nagexp.search.study import close_running_trials
    from nagexp.sweeps.checkpoint_pruning import CheckpointPruner
    from nagexp.sweeps.disk_full import DiskFullWatch, disk_full_error
    from nagexp.sweeps.interrupt import StopRequest
    from nagexp.sweeps.progress import LiveView
    from nagexp.sweeps.recorder import SweepRecorder
    from nagexp.sweeps.tune_setup import can_restore, new_tuner, restored_tuner

    spec = sweep.spec
    folder = SweepFolder(spec.sweep_dir)
    journal = _journal_for_resume(sweep) if resume else {}
    tracking = _open_tracking(sweep, checked, journal if resume else None) if checked else None
    if spec.population:
        from nagexp.search.population import PopulationStudy

        sweep.listeners.append(PopulationStudy(spec))
    view = LiveView(spec.options.trials, spec.metric, Ranking.of(spec.space, spec.options.pick), sweep.emit,
                    started=sweep.started)  # fmt: skip
    # PBT copies a member's checkpoint of the last round into another: population sweeps keep them all
    pruner = None if spec.population else CheckpointPruner(folder.tune_experiment)
    disk = DiskFullWatch()  # a full disk stops the sweep as a killed driver would, in one line
    if tracking is not None:
        disk.watch(lambda: tracking.failed_with)  # MLflow's writer thread keeps its error
    recorder = SweepRecorder(folder, list(spec.space.params), spec.metric, spec.mode, view,
                             sweep.listeners, journal, pruner, disk)  # fmt: skip
    with recorder, StopRequest(sweep.say) as stop, disk.quieting_logs():
        try:
            restore = resume and can_restore(spec)
            tuner = (restored_tuner(spec, sweep.data, journal, sweep.code_dir) if restore
                     else new_tuner(spec, sweep.data, recorder, sweep.code_dir, sweep.start))  # fmt: skip
            with callbacks_counted_without_mlflow(), without_missing_result_file_warnings():
                tuner.fit()
        except Exception as exc:
            if not (disk.saw(exc) or disk.full):
                raise
        finally:
            view.close()
    if disk.full:  # nothing more is written (no summary, no MLflow end): the folder is as --resume expects
        raise disk_full_error(spec, disk.cause)
    if pruner is not None:
        pruner.finish(interrupted=stop.requested)
    records = sorted(recorder.records.values(), key=lambda r: r.number)
    if not stop.requested:
        _end_unfinished(records, sweep.listeners)
        metrics = [o.metric for o in spec.space.objectives]
        close_running_trials(spec, {r.number: [r.finals[m] for m in metrics] for r in records
                                    if r.state == TrialState.COMPLETED and set(metrics) <= set(r.finals)})  # fmt: skip
    outcome = write_outcome(spec, records, time.monotonic() - sweep.started, interrupted=stop.requested,
                            user_code=sweep.code.record() if sweep.code else None)  # fmt: skip
    if tracking is not None:
        tracking.interrupt(records) if stop.requested else tracking.finish(records, outcome.seconds)
        outcome.mlflow = {"tracking_uri": checked.store.shown, **tracking.summary(records)}  # type: ignore[union-attr]
    write_summary_of(outcome)
    return outcome


def _end_unfinished(records: list[TrialRecord], listeners: list[TrialListener]) -> None:
    """Trials Tune never finished (the time or epoch budget ran out while they trained, or
    as they started): stopped early, like a trial ASHA stops; one with no epoch has no
    result to rank, but nothing went wrong in it. One whose last epoch came in before the
    sweep ended ran them all: completed."""
    for r in records:
        if r.state == TrialState.RUNNING:
            if r.history and is_last_epoch(r.history[-1]) and not r.history[-1].get("diverged"):
                r.state = TrialState.COMPLETED
            else:
                r.state = TrialState.PRUNED
                r.reason = r.reason or ("stopped when the sweep ended" if r.epochs_run
                                        else "stopped when the sweep ended, before its first epoch")  # fmt: skip
            for listener in listeners:
                listener.on_trial_end(r)
