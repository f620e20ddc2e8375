"""Ray Tune internals nagexp relies on (tested on Ray 2.60): its callback telemetry, the names
of its experiment-state and checkpoint files, its stop signal, the settings it reads from the
environment, the loggers it reports caught errors on and logs each checkpoint on, and the error
it pickles beside a failed trial."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nagexp.integrations.versions import Tested

__all__ = [
    "CHECKPOINT_GLOB",
    "EXPERIMENT_STATE_GLOB",
    "TESTED",
    "TUNE_LOGGERS",
    "TUNE_SETTINGS",
    "callbacks_counted_without_mlflow",
    "pickled_trial_error",
    "quiet_per_checkpoint_logs",
    "request_stop",
    "stop_signal_handled",
    "tune_stop_handling",
    "without_missing_result_file_warnings",
]

TESTED = Tested("ray", "2.60", "2.61", "Tune's callback telemetry, its experiment-state and checkpoint file names, "
                "its SIGUSR1 stop signal and the errors it pickles beside failed trials")  # fmt: skip
IN_RANGE = TESTED.check()

# Tune's settings that cost time per trial and that nagexp replaces: its own result files
# (trials.csv) instead of Ray's CSV/JSON/TensorBoard loggers, experiment snapshots every 10 s
# instead of after every result, its own live view instead of Ray's reporter.
TUNE_SETTINGS = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_GLOBAL_CHECKPOINT_S": "10",
    "RAY_AIR_NEW_OUTPUT": "0",  # the legacy reporter honours verbose=0
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "100",
    "RAY_DEDUP_LOGS": "0",
    # a trial that fails in its own code reports the error instead of a metric (it is not retried)
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
}


def _experiment_state_glob() -> str:
    """Tune's experiment snapshot files (`experiment_state-<time>.json`), rewritten every
    TUNE_GLOBAL_CHECKPOINT_S: from Tune's own template (2.60's name if it moved)."""
    try:
        from ray.tune.execution.tune_controller import TuneController

        return TuneController.CKPT_FILE_TMPL.format("*")
    except (ImportError, AttributeError):
        return "experiment_state-*.json"


def _checkpoint_glob() -> str:
    """A trial's checkpoint folders (`checkpoint_000003`): from Ray's own naming (2.60's if it moved)."""
    try:
        from ray.train._internal.storage import StorageContext

        return StorageContext._make_checkpoint_dir_name(0).rstrip("0") + "*"
    except (ImportError, AttributeError):
        return "checkpoint_*"


EXPERIMENT_STATE_GLOB = _experiment_state_glob()
CHECKPOINT_GLOB = _checkpoint_glob()


@contextlib.contextmanager
def callbacks_counted_without_mlflow(own_module: str = "nagexp.") -> Iterator[None]:
    """While a run starts: Tune's usage telemetry counts the callbacks a run is given by class
    (`tag_callbacks`), importing Ray's MLflow, Comet and W&B integrations to compare with
    theirs; the MLflow one imports MLflow itself (1.2 s of CPU here, in every sweep's driver,
    tracked or not). For callbacks from `own_module` the count is known without them: Ray files
    a plain Callback subclass that is none of its built-ins under "CustomCallback" (the same
    tag is recorded). Outside the tested Ray versions Ray counts them itself, as it would."""
    usage: Any = None
    if IN_RANGE:
        with contextlib.suppress(ImportError):
            from ray.air._internal import usage
    count_with_imports = getattr(usage, "_count_callbacks", None)
    if count_with_imports is None:
        yield
        return
    from ray.tune import Callback
    from ray.tune.logger import LoggerCallback

    def count(callbacks: list | None) -> dict[str, int]:
        ours = [c for c in callbacks or [] if type(c).__module__.startswith(own_module)]
        if len(ours) < len(callbacks or []) or any(not isinstance(c, Callback) or isinstance(c, LoggerCallback)
                                                   for c in ours):  # fmt: skip
            return count_with_imports(callbacks)
        return {"CustomCallback": len(ours)} if ours else {}

    usage._count_callbacks = count
    try:
        yield
    finally:
        usage._count_callbacks = count_with_imports


# -- stopping a run ------------------------------------------------------------------------
# Tune ends its loop and snapshots the experiment on SIGUSR1 (and on SIGINT unless
# TUNE_DISABLE_SIGINT_HANDLER is set); it installs that handler when a run starts and leaves
# it installed afterwards.


@contextlib.contextmanager
def tune_stop_handling() -> Iterator[None]:
    """While a run goes: Tune leaves SIGINT to the caller (whose handler asks Tune to stop
    through `request_stop`); afterwards the variable and Tune's SIGUSR1 handler are as before."""
    before_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    before_usr1 = signal.getsignal(signal.SIGUSR1)
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        yield
    finally:
        if before_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = before_env
        with contextlib.suppress(ValueError, TypeError):  # not the main thread: nothing was installed
            signal.signal(signal.SIGUSR1, before_usr1 if before_usr1 is not None else signal.SIG_DFL)


def stop_signal_handled() -> bool:
    """Tune's loop is running and listens for its stop signal."""
    return signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None)


def request_stop() -> None:
    """Ask Tune's loop to stop: it snapshots the experiment and stops the trials."""
    os.kill(os.getpid(), signal.SIGUSR1)


def pickled_trial_error(trial: Any) -> BaseException | None:
    """What a failed trial raised, from the error Tune pickles beside it (written locally
    before `on_trial_error`; the storage copy lags). None when there is none to read."""
    path = getattr(trial, "pickled_error_file", None)
    if not path or not Path(path).exists():
        return None
    try:
        import cloudpickle

        with open(path, "rb") as f:
            exc = cloudpickle.load(f)
    except Exception:  # an unreadable pickle: the caller says so in general words
        return None
    return getattr(exc, "cause", None) or exc


# Tune catches an error in a trial, a searcher, a callback or its experiment snapshot and logs
# it, traceback and all, on these modules' loggers (Ray 2.60); then it carries on or raises.
TUNE_LOGGERS = ("ray.tune.execution.tune_controller", "ray.tune.execution.experiment_state", "ray.tune.tune",
                "ray.tune.experiment.trial", "ray.tune.tuner", "ray.tune.impl.tuner_internal")  # fmt: skip


class _MissingResultFiles(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to fetch metrics")


@contextlib.contextmanager
def without_missing_result_file_warnings() -> Iterator[None]:
    """Tune's warning at the end of a fit that it found no result.json or progress.csv, a line
    per trial, dropped: nagexp turns those files off (TUNE_SETTINGS) and keeps its own. Seen where
    the caller started Ray with its default logging (nagexp's own start sets Ray's loggers to ERROR)."""
    logger, drop = logging.getLogger("ray.tune.analysis.experiment_analysis"), _MissingResultFiles()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


# where Ray logs "Checkpoint successfully created at: ..." at INFO, once per checkpoint (2.60)
CHECKPOINT_LOGGERS = ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage")


def quiet_per_checkpoint_logs() -> None:
    """In a trial's worker: no INFO line per checkpoint (nagexp saves one every epoch), which a
    caller's own `ray.init()` (log_to_driver on) would print for every epoch of every trial."""
    for name in CHECKPOINT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
