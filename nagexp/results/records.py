"""TrialRecord: what the driver knows about one trial, as plain data; and the one rule that
rebuilds a trial's TrainConfig from what a sweep stores."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from nagexp.config.loading import describe_validation_error
from nagexp.config.train import TrainConfig
from nagexp.core.errors import ConfigError
from nagexp.core.provenance import KERNELS_KEY, merged_kernels
from nagexp.results.trial_report import EPOCH_KEY, EXPLOIT_KEY, LINEAGE_KEY, RUNG_SIGNAL_KEY, SCHEDULE_KEY

__all__ = ["RUNNING", "STATES", "TrialRecord", "TrialState", "is_settled", "trial_config"]


class TrialState(StrEnum):
    """Where a trial stands. A str: trials.csv, the journal, summary.json and MLflow tags hold
    the bare values, and a state compares equal to its value."""

    RUNNING = "running"
    COMPLETED = "completed"  # ran all its epochs
    PRUNED = "pruned"  # stopped early by the scheduler
    DIVERGED = "diverged"  # its loss went non-finite
    ERRORED = "errored"  # raised; a resume runs it again


STATES = tuple(s for s in TrialState if s is not TrialState.RUNNING)  # how a trial can end, in this order
RUNNING = TrialState.RUNNING


def is_settled(state: TrialState) -> bool:
    """A trial that ended for good: a resumed sweep neither reruns nor retells it (an errored
    trial is run again by a resume)."""
    return state not in (TrialState.RUNNING, TrialState.ERRORED)


def trial_config(fixed: Mapping[str, Any], params: Mapping[str, Any], seed: int | None,
                 schedule: Mapping[str, Any] | None = None,
                 lineage: Sequence[Mapping[str, Any]] | None = None) -> TrainConfig:  # fmt: skip
    """The one rule that rebuilds a trial's config: the sweep's fixed values, the trial's
    searched params and its seed; for a population member, the config it ended with (the last
    entry of its `lineage`: a copy of a donor's takes the donor's other params too) under the
    `schedule` its final weights were trained under (piecewise lr / momentum / weight decay,
    replacing the values it started with). best.yaml, `nagexp reproduce`, the report, MLflow
    and the trainable all ask it. ConfigError naming the field for values that are no config."""
    last = (lineage[-1].get("config") if lineage else None) or None
    base = dict(last) if last else {**fixed, **params, **({"seed": seed} if seed is not None else {})}
    try:
        return TrainConfig(**{**base, **(schedule or {})})
    except ValidationError as err:
        raise ConfigError(f"trial config: {describe_validation_error(err, TrainConfig)}") from None


@dataclass
class TrialRecord:
    number: int
    trial_id: str
    state: TrialState = TrialState.RUNNING
    params: dict[str, Any] = field(default_factory=dict)  # searched params that were active
    config: dict[str, Any] = field(default_factory=dict)  # the full TrainConfig values
    final: float | None = None  # objective at the last epoch run
    finals: dict[str, float] = field(default_factory=dict)  # every objective metric at the last epoch run
    best: float | None = None  # best objective over the epochs run
    epochs_run: int = 0
    seconds: float = 0.0
    node_id: str = ""
    cpu_kernels: str = ""  # torch's CPU kernels it ran on (core.provenance.KERNELS_KEY; empty on a GPU)
    seed: int | None = None
    test_acc: float | None = None  # only for trials that ran all epochs
    reason: str = ""  # why it diverged or errored
    retries: int = 0  # restarts from a checkpoint after its worker died
    checkpoint_file: str = ""  # the trial's last Tune checkpoint (driver-side path)
    history: list[dict[str, float]] = field(default_factory=list, repr=False)
    exploits: list[dict[str, int]] = field(default_factory=list)  # PBT: {"epoch": after it, "from": trial}
    schedule: dict[str, Any] | None = None  # PBT: TrainConfig fields replaying its weights' schedule
    lineage: list[dict[str, Any]] | None = None  # PBT: who trained its final weights from which epoch, how
    ranked: float | None = None  # the rung signal at its last epoch (what ASHA ranked it on); None: the metric

    def train_config(self, fixed: Mapping[str, Any]) -> TrainConfig:
        """This trial's config under a sweep's `fixed` values (see `trial_config`): a population
        member's replays the schedule its weights were trained under, from scratch."""
        return trial_config(fixed, self.params, self.seed, self.schedule, self.lineage)

    def observe(self, metrics: dict[str, Any], metric: str, mode: str) -> None:
        """Take one epoch's result."""
        value = metrics.get(metric)
        self.history.append({k: v for k, v in metrics.items() if _is_number(v)})
        self.epochs_run = int(metrics.get(EPOCH_KEY, self.epochs_run + 1))
        self.seconds = float(metrics.get("time_total_s", self.seconds))
        self.node_id = str(metrics.get("node_id", self.node_id))
        self.cpu_kernels = merged_kernels(self.cpu_kernels, str(metrics.get(KERNELS_KEY) or ""))
        self.finals.update({m: float(v) for m, v in metrics.items() if _is_number(v)})
        if value is not None:
            self.final = float(value)
            if math.isfinite(self.final) and (self.best is None or _better(self.final, self.best, mode)):
                self.best = self.final
        if EXPLOIT_KEY in metrics:
            self.exploits.append({"epoch": self.epochs_run - 1, "from": int(metrics[EXPLOIT_KEY])})
        if metrics.get(SCHEDULE_KEY):
            self.schedule = json.loads(metrics[SCHEDULE_KEY])
        if metrics.get(LINEAGE_KEY):
            self.lineage = json.loads(metrics[LINEAGE_KEY])
        if isinstance(metrics.get(RUNG_SIGNAL_KEY), int | float):
            self.ranked = float(metrics[RUNG_SIGNAL_KEY])
        if "test_acc" in metrics:
            self.test_acc = float(metrics["test_acc"])
        if metrics.get("diverged"):
            self.reason = str(metrics.get("diverged_reason", "diverged"))


def _is_number(value: Any) -> bool:
    """A reported number, which any objective may name: a training function of the user's
    reports metrics of its own (looked up by name; the rest of Tune's fields are never asked)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b

