"""The report a trial sends Tune after each epoch: one typed row and one builder, used alike
by the Tune trainable (a one-process trial) and by the Ray Train workers of a data-parallel
trial. The driver reads the same keys back (the recorder, the searcher, the schedulers), so
every key has its name here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from nagexp.core.provenance import KERNELS_KEY

__all__ = [
    "EPOCHS_TOTAL_KEY",
    "EPOCH_KEY",
    "EXPLOIT_KEY",
    "IDENTITY_KEYS",
    "LINEAGE_KEY",
    "RUNG_SIGNAL_KEY",
    "SCHEDULE_KEY",
    "TRIAL_ERROR_KEY",
    "TRIAL_NUMBER_KEY",
    "WORKER_GROUP_KEY",
    "TrialReport",
    "error_report",
    "is_last_epoch",
    "stopped_early",
    "trial_report",
]

TRIAL_NUMBER_KEY = "trial_number"  # also in each trial's Tune config, beside the TrainConfig fields
EPOCH_KEY = "epoch"  # epochs the weights have been trained (a copied PBT checkpoint brings its own)
EPOCHS_TOTAL_KEY = "epochs_total"
TRIAL_ERROR_KEY = "trial_error"  # in a trial's last report when its own code raised
# in a population-based (PBT/PB2) trial's reports: the first epoch after it copied another
# trial's weights names that trial; its last epoch carries the piecewise schedule of its weights
# and their lineage (who trained them from which epoch, with which config), both JSON
EXPLOIT_KEY = "exploit_from"
SCHEDULE_KEY = "exported_schedule"
LINEAGE_KEY = "exported_lineage"
# what ASHA ranked the trial on at this epoch when the sweep's rung signal is not the raw metric
# (see results/rung_signals.py); at the last epoch it equals the metric
RUNG_SIGNAL_KEY = "rung_signal"
WORKER_GROUP_KEY = "worker_group"  # a data-parallel trial's workers: their placement group (hex)
# what makes a trial itself: a population member keeps them when it copies another's config
IDENTITY_KEYS = (TRIAL_NUMBER_KEY, "seed")


class TrialReport(TypedDict, total=False):
    # the trainer's metrics of the epoch (see nagexp.training.trainer)
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    momentum: float
    weight_decay: float
    epoch_seconds: float
    samples_per_s: float
    train_seconds: float  # the run's training seconds so far
    param_count: float  # the model's parameters
    test_loss: float  # the last epoch of a run that did not diverge
    test_acc: float
    # which trial, where, and how far
    trial_number: int
    epochs_total: int
    diverged: bool
    diverged_reason: str
    node_id: str  # a data-parallel trial: every worker's node, in rank order, comma-separated
    cpu_kernels: str  # torch's CPU kernels the trial ran on (KERNELS_KEY): they round differently
    pid: int
    workers: int  # a data-parallel trial's worker count
    worker_group: str
    exploit_from: int
    exported_schedule: str  # JSON of TrainConfig fields
    exported_lineage: str  # JSON list of {epoch, label, config}
    trial_error: str
    rung_signal: float
    cooldown_val_acc: float  # a rung's cooldown probe (the trainer's): the branch's val metrics
    cooldown_val_loss: float
    probe_steps: int  # the probes' optimizer steps and seconds so far (beside the run's own)
    probe_seconds: float


def trial_report(
    metrics: Mapping[str, float],
    *,
    number: int | None,
    epochs_total: int,
    diverged_reason: str | None,
    node_id: str,
    cpu_kernels: str,
    pid: int,
    workers: int | None = None,
    worker_group: str | None = None,
    exploit_from: int | None = None,
    exported_schedule: str | None = None,
    exported_lineage: str | None = None,
    rung_signal: float | None = None,
) -> TrialReport:
    """One epoch's report: the trainer's metrics and who sent them (`number` None: a run
    outside a sweep)."""
    row: dict[str, Any] = {
        **metrics,
        **({TRIAL_NUMBER_KEY: number} if number is not None else {}),
        EPOCHS_TOTAL_KEY: epochs_total,
        "diverged": diverged_reason is not None,
        "diverged_reason": diverged_reason or "",
        "node_id": node_id,
        KERNELS_KEY: cpu_kernels,
        "pid": pid,
    }
    if workers is not None:
        row["workers"] = workers
        row[WORKER_GROUP_KEY] = worker_group or ""
    if exploit_from is not None:
        row[EXPLOIT_KEY] = exploit_from
    if exported_schedule is not None:
        row[SCHEDULE_KEY] = exported_schedule
    if exported_lineage is not None:
        row[LINEAGE_KEY] = exported_lineage
    if rung_signal is not None:
        row[RUNG_SIGNAL_KEY] = rung_signal
    return row  # type: ignore[return-value]


def error_report(number: int, message: str) -> TrialReport:
    """The last report of a trial whose own code raised (no metrics: it is not retried)."""
    return {TRIAL_ERROR_KEY: message, TRIAL_NUMBER_KEY: number}


def stopped_early(result: Mapping[str, Any] | None) -> bool:
    """A trial's last report is before its final epoch and it did not diverge: a scheduler
    stopped it (ASHA's pruning, or the sweep's budget)."""
    if not result or result.get("diverged"):
        return False
    return int(result.get(EPOCH_KEY, 0)) < int(result.get(EPOCHS_TOTAL_KEY, 0))


def is_last_epoch(result: Mapping[str, Any]) -> bool:
    """The report of a trial's final epoch (no round of population-based training after it)."""
    return int(result.get(EPOCH_KEY, 0)) >= int(result.get(EPOCHS_TOTAL_KEY, 2**31))
