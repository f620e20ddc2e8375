"""A training function of the user's, `run(config: dict, report) -> None`, run as one trial.

The function sees a plain dict (the trial's fixed and sampled values, `epochs` and `seed`
always, the entries of `trainer_args` by their own names) and a `report` callable, and knows
nothing of Ray, Optuna or MLflow. It calls `report({...metrics...})` once an epoch; who listens
(a Tune trial, a rerun) is the caller's business. State it wants to survive a killed driver, a
retried worker or a population member's exploit goes with the report,
`report(metrics, state=obj)`, and comes back as `report.restored`, with `report.epoch` the
epochs it already covers.
"""

from __future__ import annotations

import inspect
import math
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError, DataError, NagexpError
from nagexp.registries.trainers import trainer_function

__all__ = ["OWN_STATE_FILE", "OwnReport", "OwnState", "check_trainer", "function_config", "load_own_state",
           "run_own_trainer"]  # fmt: skip

OWN_STATE_FILE = "own_state.pkl"  # in a checkpoint folder of an own function's trial
_FORMAT = 1
# the config fields nagexp sets for itself (threads, the data mode it resolved): not the function's
_RUNTIME_FIELDS = frozenset({"trainer", "trainer_args", "num_threads", "data_mode"})


@dataclass
class OwnState:
    """What an own function's trial saves after an epoch: the epochs done, their metrics, the
    object the function passed as `state` (None when it passed none), and the state's lineage
    (who trained it from which epoch with which config; a population member's, see own_trial)."""

    epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    state: Any = None
    has_state: bool = False
    lineage: list[dict[str, Any]] = field(default_factory=list)

    def save(self, folder: str | Path) -> None:
        record = {"format": _FORMAT, "epoch": self.epoch, "history": self.history, "state": self.state,
                  "has_state": self.has_state, "lineage": self.lineage}  # fmt: skip
        with (Path(folder) / OWN_STATE_FILE).open("wb") as f:
            pickle.dump(record, f)


def load_own_state(folder: str | Path) -> OwnState:
    """The state saved in a checkpoint folder; DataError in one line for a missing or damaged file."""
    path = Path(folder) / OWN_STATE_FILE
    try:
        with path.open("rb") as f:
            record = pickle.load(f)
    except FileNotFoundError:
        raise DataError(f"checkpoint '{path}' is missing") from None
    except Exception as exc:  # a damaged file, or a state class the code no longer has
        raise DataError(f"checkpoint '{path}' cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        raise DataError(f"checkpoint '{path}' is not an own-trainer checkpoint of format {_FORMAT}")
    return OwnState(int(record["epoch"]), list(record["history"]), record["state"], bool(record["has_state"]),
                    list(record.get("lineage", [])))  # a checkpoint of an older nagexp has none


def function_config(cfg: TrainConfig) -> dict[str, Any]:
    """The dict the function gets: the config fields the space (or a rerun) set, `epochs` and
    `seed`, and the entries of `trainer_args` under their own names."""
    given = {k: getattr(cfg, k) for k in sorted(cfg.model_fields_set) if k not in _RUNTIME_FIELDS}
    return {**given, "epochs": cfg.epochs, "seed": cfg.seed, **cfg.trainer_args}


def check_trainer(trainer: str) -> Callable[..., Any]:
    """The function `trainer` names, when it imports and takes `(config, report)`; ConfigError
    in one line otherwise (what the driver checks before the first trial)."""
    fn = trainer_function(trainer)
    if not callable(fn):
        raise ConfigError(f"trainer '{trainer}' is a {type(fn).__name__}, not a function; it must be "
                          "def run(config: dict, report) -> None")  # fmt: skip
    try:
        inspect.signature(fn).bind({}, print)
    except TypeError as exc:
        raise ConfigError(f"trainer '{trainer}' cannot be called as run(config, report) ({exc}); it must be "
                          "def run(config: dict, report) -> None") from None  # fmt: skip
    except ValueError:  # a builtin without a signature: calling it will tell
        pass
    return fn


# BaseExceptions, raised inside `report`: a function's own `except Exception` cannot swallow them
class _Diverged(BaseException):
    """The objective came back non-finite: the trial ends, kept and marked diverged."""


class _Until(BaseException):
    """The run reached the epoch its caller asked it to stop at (a stretch of a replayed lineage)."""


class _Refused(BaseException):
    """A report the caller cannot use (no state where one is needed): the run ends with this error."""


EpochSink = Callable[[dict[str, float], OwnState, "str | None"], None]


class OwnReport:
    """The `report` callable the function gets. `report(metrics, state=None)`: one epoch's
    metrics (numbers; the objective's among them) and, optionally, any picklable object to
    save with the epoch. `restored`: the state saved with the last epoch before a resume (None
    on a fresh start); `epoch`: epochs done so far (where a resumed loop goes on from)."""

    def __init__(self, sink: EpochSink, epochs: int, required: tuple[str, ...], start: OwnState | None,
                 until: int | None = None, needs_state: str | None = None) -> None:  # fmt: skip
        self._sink, self._epochs, self._required, self._until = sink, epochs, required, until
        self._needs_state = needs_state  # why every report must carry a state (None: it need not)
        self.restored: Any = start.state if start is not None else None
        self.epoch: int = start.epoch if start is not None else 0
        self._history: list[dict[str, float]] = list(start.history) if start is not None else []

    def __call__(self, metrics: Mapping[str, Any], state: Any = None) -> None:
        if self.epoch >= self._epochs:
            raise NagexpError(f"the trainer reported more than config['epochs'] = {self._epochs} epochs")
        row = _checked(metrics, self._required)
        self.epoch += 1
        row["epoch"] = self.epoch
        self._history.append(dict(row))
        bad = next((m for m in self._required if not math.isfinite(row[m])), None)
        reason = f"{bad} is {row[bad]}" if bad else None
        if state is None and reason is None and self._needs_state:
            raise _Refused(self._needs_state)
        saved = OwnState(self.epoch, list(self._history), state, state is not None)
        self._sink(row, saved, reason)  # a trial a scheduler stops ends in here
        if reason is not None:
            raise _Diverged(reason)
        if self.epoch == self._until:
            raise _Until

    @property
    def history(self) -> list[dict[str, float]]:
        return list(self._history)


def _checked(metrics: Mapping[str, Any], required: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        raise NagexpError(f"the trainer reported a {type(metrics).__name__}; report a dict of metrics")
    missing = [m for m in required if m not in metrics]
    if missing:
        raise NagexpError(f"the trainer's report has no {', '.join(missing)} (it gave {sorted(metrics)}); "
                          "report the objective's metric every epoch")  # fmt: skip
    row: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise NagexpError(f"the trainer reported {key}={value!r}; metrics must be numbers")
        row[str(key)] = float(value)
    return row


def run_own_trainer(cfg: TrainConfig, sink: EpochSink, required: tuple[str, ...], start: OwnState | None = None,
                    until: int | None = None, needs_state: str | None = None) -> list[dict[str, float]]:  # fmt: skip
    """Call the function `cfg.trainer` names, from `start` (a resume) or from scratch; every
    epoch goes to `sink(metrics, state, diverged_reason)`. `until`: stop the function after
    that epoch's report (it may go on to `cfg.epochs` otherwise). Returns the run's epoch
    metrics. `needs_state`: every report must carry a state, and this says why (NagexpError
    otherwise). NagexpError when the function returns before its last epoch."""
    fn = check_trainer(cfg.trainer)
    report = OwnReport(sink, cfg.epochs, required, start, until, needs_state)
    try:
        fn(function_config(cfg), report)
    except (_Diverged, _Until):
        return report.history
    except _Refused as refused:
        raise NagexpError(str(refused)) from None
    if report.epoch < cfg.epochs:
        raise NagexpError(f"the trainer returned after {report.epoch} of {cfg.epochs} epochs; call report once "
                          "an epoch, config['epochs'] times")  # fmt: skip
    return report.history
