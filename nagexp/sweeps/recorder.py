"""A Tune callback on the driver: keeps a TrialRecord per trial, journals every event,
rewrites trials.csv as trials end, and drives the live view. The driver is the only writer
of result files.

Records are keyed by trial number (the Optuna trial number): after a resume a trial keeps
its number even when Tune runs it under a new trial id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ray.tune import Callback

from nagexp.core.errors import DataError, NagexpError
from nagexp.integrations.ray_train import CHECKPOINT_PATH_KEY
from nagexp.integrations.ray_tune import pickled_trial_error
from nagexp.results.files import write_trials_csv
from nagexp.results.folders import SweepFolder
from nagexp.results.journal import Journal
from nagexp.results.records import TrialRecord, TrialState, is_settled
from nagexp.results.trial_report import EPOCH_KEY, TRIAL_ERROR_KEY, TRIAL_NUMBER_KEY, WORKER_GROUP_KEY, stopped_early
from nagexp.runtime.ray_session import release_worker_group
from nagexp.sweeps.checkpoint_pruning import CheckpointPruner
from nagexp.sweeps.disk_full import DiskFullStop, DiskFullWatch
from nagexp.sweeps.progress import LiveView
from nagexp.sweeps.trainable import error_line
from nagexp.training.checkpoint import CHECKPOINT_FILE

__all__ = ["SweepRecorder", "TrialListener"]

_LIVE: SweepRecorder | None = None  # the recorder of the sweep this process is running
_Hook = TypeVar("_Hook", bound=Callable[..., None])


def _live_recorder() -> SweepRecorder:
    if _LIVE is None:
        raise RuntimeError("no sweep recorder is active in this process")
    return _LIVE


class TrialListener(Protocol):
    """Told about trials as the recorder sees them (the MLflow tracker is one)."""

    def on_trial_start(self, rec: TrialRecord) -> None: ...
    def on_trial_epoch(self, rec: TrialRecord, metrics: dict[str, Any]) -> None: ...
    def on_trial_end(self, rec: TrialRecord) -> None: ...


def _error_message(trial: Any) -> str:
    """One line naming what a failed trial raised (from the error Tune pickled beside it)."""
    cause = pickled_trial_error(trial)
    if cause is None:
        return "trial raised an error (see error.txt in its folder under ray/)"
    return error_line(cause)


def _missed_epochs(trial: Any, recorded: int, epoch: int) -> list[dict[str, Any]]:
    """Epochs between the last recorded one and `epoch`: a driver killed while it took in a
    result can leave a checkpoint newer than its journal, and a resumed trial goes on after
    that checkpoint. Its history (in the checkpoint Tune resumed it from) holds them."""
    checkpoint = getattr(trial, "checkpoint", None)
    if epoch <= recorded + 1 or checkpoint is None or not getattr(checkpoint, "path", None):
        return []
    try:
        from nagexp.training.checkpoint import load_checkpoint

        history = load_checkpoint(Path(checkpoint.path) / CHECKPOINT_FILE)["history"]
    except DataError:
        return []
    return [dict(h) for h in history if recorded < int(h[EPOCH_KEY]) < epoch]


def _until_disk_full(hook: _Hook) -> _Hook:
    """A Tune hook that does nothing once the disk is full, and takes a full disk it runs
    into as the sign to stop (see disk_full.py) instead of letting Tune log and go on."""

    @functools.wraps(hook)
    def guarded(self: SweepRecorder, *args: Any, **kwargs: Any) -> None:
        if self.disk.full:
            return  # nothing more is written: the files stay as a resume expects them
        try:
            hook(self, *args, **kwargs)
        except Exception as exc:
            if not self.disk.saw(exc):
                raise

    return guarded  # type: ignore[return-value]


class SweepRecorder(Callback):
    def __init__(
        self,
        folder: SweepFolder,
        param_names: list[str],
        metric: str,
        mode: str,
        view: LiveView,
        listeners: list[TrialListener] | None = None,
        records: dict[int, TrialRecord] | None = None,
        pruner: CheckpointPruner | None = None,
        disk: DiskFullWatch | None = None,
    ) -> None:
        self.folder, self.trials_csv = folder, folder.trials_csv
        self.param_names, self.metric, self.mode = param_names, metric, mode
        self.view = view
        self.listeners = listeners or []
        self.records: dict[int, TrialRecord] = records or {}  # from the journal when resuming
        self.journal = Journal(folder.journal)
        self.write_error: str | None = None
        self.pruner = pruner  # deletes checkpoints Tune's snapshot no longer names (None: keep all)
        self.disk = disk or DiskFullWatch()  # once it is full, the sweep stops (see disk_full.py)
        self._first_step = True  # a resume's: trials Tune's snapshot ended that the journal did not

    def __enter__(self) -> SweepRecorder:
        global _LIVE
        _LIVE = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _LIVE
        _LIVE = None
        self.journal.close()

    def __reduce__(self) -> tuple[Any, tuple]:
        # Tune pickles its callbacks into tuner.pkl and unpickles them on Tuner.restore. The
        # recorder holds live connections (MLflow) and the journal: it pickles as a reference
        # to the recorder of the driver that is running (or resuming) the sweep.
        return _live_recorder, ()

    # -- helpers ------------------------------------------------------------------------

    def _record(self, trial: Any) -> TrialRecord:
        config = dict(trial.config)
        number = int(config.pop(TRIAL_NUMBER_KEY))
        rec = self.records.get(number)
        if rec is None:
            rec = TrialRecord(
                number=number,
                trial_id=trial.trial_id,
                params={p: config[p] for p in self.param_names if p in config},
                config=config,
                seed=config.get("seed"),
            )
            self.records[number] = rec
            self.journal.started(rec)
            for listener in self.listeners:
                listener.on_trial_start(rec)
        elif rec.state == TrialState.ERRORED and rec.trial_id == trial.trial_id and trial.status == "RUNNING":
            rec.state, rec.reason = TrialState.RUNNING, ""  # an errored trial that a resume runs again
        elif config != rec.config and rec.state == TrialState.RUNNING:
            rec.config = config  # population-based training gave it a perturbed copy of another's
            self.journal.reconfigured(rec)
        rec.trial_id = trial.trial_id
        return rec

    def _settled(self, trial: Any) -> bool:
        """A trial that ended before the driver was restarted: its record is final."""
        rec = self.records.get(int(trial.config[TRIAL_NUMBER_KEY]))
        return rec is not None and is_settled(rec.state)

    def _release_workers(self, rec: TrialRecord, trial: Any) -> None:
        """A data-parallel trial's worker group: the one it reported, else the one its workers
        wrote down (a trial stopped before its first report)."""
        reported = (trial.last_result or {}).get(WORKER_GROUP_KEY, "")
        release_worker_group(reported, self.folder.train_run(rec.number))

    def _finish(self, rec: TrialRecord, trial: Any) -> None:
        self._release_workers(rec, trial)
        self._note_checkpoint(rec, trial)
        # the journal first: it is what a resume replays, so a driver killed between the two
        # writes leaves trials.csv behind the journal (rewritten at the end), never ahead of it
        self.journal.ended(rec)
        try:
            write_trials_csv(self.trials_csv, list(self.records.values()), self.param_names, self.metric,
                             self.view.ranking)  # fmt: skip
        except NagexpError as exc:  # the sweep goes on, the file is written again at the end
            if self.disk.saw(exc):
                return  # unless the disk is full: then the sweep stops here
            if not self.write_error:
                self.view.emit_line(f"warning: {exc}")
            self.write_error = str(exc)
        self.view.update(list(self.records.values()), trial_ended=True)
        for listener in self.listeners:
            listener.on_trial_end(rec)

    @staticmethod
    def _note_checkpoint(rec: TrialRecord, trial: Any) -> None:
        """The trial's last checkpoint file (driver-side): the best model is logged from it."""
        saved = (trial.last_result or {}).get("checkpoint_dir_name")
        if saved and getattr(trial, "path", None) and (Path(trial.path) / saved / CHECKPOINT_FILE).is_file():
            # its last report's checkpoint: when a budget ends the sweep on that report, Tune's own
            # `trial.checkpoint` is still the one before (deleted, as only the last is kept)
            rec.checkpoint_file = str(Path(trial.path) / saved / CHECKPOINT_FILE)
            return
        checkpoint = getattr(trial, "checkpoint", None)
        if checkpoint is not None and getattr(checkpoint, "path", None):
            rec.checkpoint_file = str(Path(checkpoint.path) / CHECKPOINT_FILE)
        elif folder := (trial.last_result or {}).get(CHECKPOINT_PATH_KEY):  # a data-parallel trial's Ray Train run
            rec.checkpoint_file = str(Path(folder) / CHECKPOINT_FILE)

    # -- Tune hooks ---------------------------------------------------------------------

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self.disk.full:
            raise DiskFullStop(self.disk.cause)  # ends Tune's loop; Tune stops the trials
        self.view.tick(list(self.records.values()))

    @_until_disk_full
    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        """First step (or the end, if none ran): a trial restored as ended by Tune (a rung's stop saved
        as the last driver stopped), with no end in the journal, ends as Tune ended it."""
        restored, self._first_step = self._first_step, False
        for trial in trials if restored else ():
            rec = self.records.get(int(trial.config.get(TRIAL_NUMBER_KEY, -1)))
            if rec is not None and rec.state == TrialState.RUNNING and trial.status == "TERMINATED" \
                    and not self.disk.said(str((trial.last_result or {}).get(TRIAL_ERROR_KEY, ""))):  # a resume reruns
                self.on_trial_complete(iteration, trials, trial)

    @_until_disk_full
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial)
        self.view.update(list(self.records.values()), trial_ended=False)

    @_until_disk_full
    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self._settled(trial):
            return
        if self.disk.said(str(result.get(TRIAL_ERROR_KEY, ""))):
            return  # its checkpoint found the disk full: not the trial's fault, a resume reruns it
        rec = self._record(trial)
        if TRIAL_ERROR_KEY in result:
            rec.reason = str(result[TRIAL_ERROR_KEY])  # the trial's own code raised; it ends now
            return
        epoch = int(result.get(EPOCH_KEY, 0))
        if rec.history and epoch <= rec.epochs_run:
            return  # a retried trial replays epochs after its last checkpoint: already recorded
        for missed in _missed_epochs(trial, rec.epochs_run, epoch) if rec.history else []:
            self._epoch(rec, missed)
        self._epoch(rec, result)
        self.view.update(list(self.records.values()), trial_ended=False)

    def _epoch(self, rec: TrialRecord, result: dict[str, Any]) -> None:
        rec.observe(result, self.metric, self.mode)
        self.journal.epoch(rec, result)
        for listener in self.listeners:
            listener.on_trial_epoch(rec, result)

    @_until_disk_full
    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        if self.pruner is not None and getattr(checkpoint, "path", None):
            self.pruner.registered(trial.trial_id, checkpoint.path)

    @_until_disk_full
    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._settled(trial) or self.disk.saw(pickled_trial_error(trial)):
            return  # finished before a resume; Tune's stale state of it does not count
        rec = self._record(trial)
        self._release_workers(rec, trial)
        rec.retries += 1  # its worker died; Tune restarts it from its checkpoint
        self.journal.retried(rec)

    @_until_disk_full
    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._settled(trial):
            return  # finished before a resume; Tune only closed its stale state
        rec = self._record(trial)
        last = trial.last_result or {}
        if TRIAL_ERROR_KEY in last:
            rec.state, rec.reason = TrialState.ERRORED, str(last[TRIAL_ERROR_KEY])
        elif last.get("diverged"):
            rec.state = TrialState.DIVERGED
        elif stopped_early(last):
            rec.state = TrialState.PRUNED
        else:
            rec.state = TrialState.COMPLETED
        self._finish(rec, trial)

    @_until_disk_full
    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._settled(trial) or self.disk.saw(pickled_trial_error(trial)):
            return
        rec = self._record(trial)
        rec.state = TrialState.ERRORED
        rec.reason = _error_message(trial)
        self._finish(rec, trial)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if not self.disk.full:
            self.on_step_begin(0, trials)  # a resume with nothing left to run takes no step
        # a budget or Ctrl-C ends the sweep: trials still running get no on_trial_complete (one
        # whose last epoch came in is completed then, and its model logged from its checkpoint)
        for trial in trials:
            if (number := trial.config.get(TRIAL_NUMBER_KEY)) is not None and (rec := self.records.get(int(number))):
                self._release_workers(rec, trial)
                if rec.state == TrialState.RUNNING:
                    self._note_checkpoint(rec, trial)
