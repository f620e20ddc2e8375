"""The sections of a search-space file besides its params: what a sweep optimizes
(`objective`), how ASHA stops trials early (`asha`) and how population-based training
perturbs them (`pbt`)."""

from __future__ import annotations

import math
import re
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nagexp.core.provenance import KERNELS_KEY

__all__ = ["METRIC_BOUNDS", "MUTABLE_PARAMS", "OBJECTIVE_METRICS", "RUNG_SIGNALS", "TIMED_METRICS", "AshaSettings",
           "Objective", "PbtSettings", "RungSignalName", "metric_bounds"]  # fmt: skip

# metric -> its natural direction. param_count: the model's parameters; train_seconds: the
# seconds its epochs spent training (without evaluation), summed over the run
OBJECTIVE_METRICS: dict[str, str] = {"val_acc": "max", "val_loss": "min", "train_acc": "max", "train_loss": "min",
                                     "param_count": "min", "train_seconds": "min"}  # fmt: skip
TIMED_METRICS = frozenset({"train_seconds"})  # their values depend on the machine and its load
# the values a metric can take: an interval nagexp reports for one stays inside them
METRIC_BOUNDS: dict[str, tuple[float, float]] = {
    **dict.fromkeys(("val_acc", "train_acc", "test_acc"), (0.0, 1.0)),
    **dict.fromkeys(("val_loss", "train_loss", "test_loss", "param_count", "train_seconds"), (0.0, math.inf)),
}


def metric_bounds(metric: str) -> tuple[float, float]:
    return METRIC_BOUNDS.get(metric, (-math.inf, math.inf))

_METRIC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")  # what MLflow, trials.csv and Tune all take as a name
# what a trial's report or Ray Tune writes beside the trainer's metrics: never an objective
_REPORT_KEYS = frozenset({"epoch", "epochs_total", "trial_number", "trial_error", "pid", "node_id", "node_ip",
                          KERNELS_KEY, "hostname", "diverged", "diverged_reason", "rung_signal", "exploit_from",
                          "workers", "worker_group", "probe_steps", "probe_seconds", "time_total_s", "time_this_iter_s",
                          "time_since_restore", "training_iteration", "iterations_since_restore", "timestamp",
                          "done", "trial_id", "date"})  # fmt: skip



class Objective(BaseModel):
    """What a sweep optimizes: one of the metrics nagexp's trainer reports (OBJECTIVE_METRICS,
    mode optional), or a metric a training function of the user's reports (its mode given;
    the sweep checks that such a metric goes with an own trainer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str = "val_acc"
    mode: Literal["max", "min"] | None = None  # default: the metric's natural direction

    @field_validator("metric")
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not _METRIC_NAME.fullmatch(value):
            raise ValueError(f"objective metric '{value}' is not a metric name (letters, digits, _ . -)")
        if value in _REPORT_KEYS:
            raise ValueError(f"objective metric '{value}' is what nagexp or Ray Tune writes into each report; "
                             "name your metric otherwise")  # fmt: skip
        return value

    @model_validator(mode="after")
    def _direction_known(self) -> Objective:
        if self.metric not in OBJECTIVE_METRICS and self.mode is None:
            raise ValueError(f"unknown objective metric '{self.metric}'; nagexp's trainer reports "
                             f"{', '.join(OBJECTIVE_METRICS)}; for a metric your own trainer reports, give its "
                             "mode (max or min)")  # fmt: skip
        return self

    @property
    def is_builtin_metric(self) -> bool:
        return self.metric in OBJECTIVE_METRICS

    @property
    def direction(self) -> str:
        return self.mode or OBJECTIVE_METRICS[self.metric]


# what ASHA ranks trials on at a rung (results/rung_signals.py); auto: cooldown where the lr
# schedule decays and nagexp's trainer runs, else raw (space/rungs.py: resolved_signal)
RungSignalName = Literal["auto", "raw", "cooldown", "curve"]
RUNG_SIGNALS: tuple[str, ...] = get_args(RungSignalName)


class AshaSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    # epochs every trial runs before it can be stopped (never before warmup ends); 3, not Ray's 1:
    # on benchmarks/league (LCBench) TPE + ASHA ranks 7th of 8 from epoch 1, 1st from epoch 3
    grace_period: int = Field(3, ge=1)
    reduction_factor: float = Field(3.0, gt=1)  # 1/reduction_factor of trials go on at each rung
    # raw: the metric at the rung; cooldown: the metric after a short probe that anneals the lr
    # to the schedule's end; curve: the metric's learning curve extrapolated to the last epoch;
    # auto: cooldown for a decaying schedule of nagexp's trainer (benchmarks/rank_fidelity), else raw
    signal: RungSignalName = "auto"
    cooldown: float = Field(0.2, gt=0, le=1)  # cooldown probe: its steps, a share of the steps taken so far

    def milestones(self, max_epochs: int, first: int | None = None) -> list[int]:
        """The epochs at which successive halving decides, below the last: the first rung
        (default: the grace period) x reduction_factor^k, each rounded up, as Ray's ASHA decides
        (at the first epoch that reaches its float milestone), so both halvings and the cooldown
        probes agree for any reduction factor."""
        start = first or self.grace_period
        rungs: set[int] = set()
        k = 0
        while (epoch := math.ceil(start * self.reduction_factor**k - 1e-9)) < max_epochs:
            rungs.add(epoch)
            k += 1
        return sorted(rungs)


MUTABLE_PARAMS = ("lr", "momentum", "weight_decay")  # what population-based training may change mid-run


class PbtSettings(BaseModel):
    """Population-based training (`--scheduler pbt|pb2`): the population is `--trials` configs
    from the space's sampler; every `perturbation_interval` epochs the worst `quantile_fraction`
    copy the weights of the best and change the `mutate` params within their `params` bounds."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    perturbation_interval: int = Field(2, ge=1)  # epochs between exploit/explore rounds
    quantile_fraction: float = Field(0.25, gt=0, le=0.5)  # share of the population copied / copying
    resample_probability: float = Field(0.25, ge=0, le=1)  # pbt: draw anew instead of x0.8 / x1.2
    mutate: list[str] = ["lr", "momentum"]  # float params of the space: MUTABLE_PARAMS, an own trainer's trainer_args.*

    @field_validator("mutate")
    @classmethod
    def _mutable(cls, value: list[str]) -> list[str]:
        wrong = [v for v in value if v not in MUTABLE_PARAMS and not v.startswith("trainer_args.")]
        if wrong or not value or len(set(value)) != len(value):
            raise ValueError(f"mutate: distinct names of {', '.join(MUTABLE_PARAMS)} or, for a trainer of your own, "
                             f"trainer_args.NAME (got {value})")
        return value
