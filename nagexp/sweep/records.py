"""Trial records and the sweep's result files: trials.csv, best.yaml, summary.json.

Plain data and file I/O only (no Ray), so `nagexp ls` and reports read results without
starting anything.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nagexp.io import atomic_write_text, to_yaml

__all__ = [
    "STATES",
    "TrialRecord",
    "best_record",
    "read_trials_csv",
    "short_value",
    "state_counts",
    "trials_csv",
    "write_best_yaml",
    "write_trials_csv",
]

STATES = ("completed", "pruned", "diverged", "errored")
RUNNING = "running"


@dataclass
class TrialRecord:
    number: int
    trial_id: str
    state: str = RUNNING  # running | completed | pruned | diverged | errored
    params: dict[str, Any] = field(default_factory=dict)  # searched params that were active
    config: dict[str, Any] = field(default_factory=dict)  # the full TrainConfig values
    final: float | None = None  # objective at the last epoch run
    best: float | None = None  # best objective over the epochs run
    epochs_run: int = 0
    seconds: float = 0.0
    node_id: str = ""
    seed: int | None = None
    test_acc: float | None = None  # only for trials that ran all epochs
    reason: str = ""  # why it diverged or errored
    retries: int = 0  # restarts from a checkpoint after its worker died
    checkpoint_file: str = ""  # the trial's last Tune checkpoint (driver-side path)
    history: list[dict[str, float]] = field(default_factory=list, repr=False)

    def observe(self, metrics: dict[str, Any], metric: str, mode: str) -> None:
        """Take one epoch's result."""
        value = metrics.get(metric)
        self.history.append(
            {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        )
        self.epochs_run = int(metrics.get("epoch", self.epochs_run + 1))
        self.seconds = float(metrics.get("time_total_s", self.seconds))
        self.node_id = str(metrics.get("node_id", self.node_id))
        if value is not None:
            self.final = float(value)
            if math.isfinite(self.final) and (self.best is None or _better(self.final, self.best, mode)):
                self.best = self.final
        if "test_acc" in metrics:
            self.test_acc = float(metrics["test_acc"])
        if metrics.get("diverged"):
            self.reason = str(metrics.get("diverged_reason", "diverged"))


def short_value(value: Any) -> str:
    """A table cell: '-' for missing, 4 significant digits for floats."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def state_counts(records: list[TrialRecord]) -> dict[str, int]:
    counts = dict.fromkeys((*STATES, RUNNING), 0)
    for r in records:
        counts[r.state] = counts.get(r.state, 0) + 1
    return counts


def best_record(records: list[TrialRecord], mode: str) -> TrialRecord | None:
    """Best final objective among trials that ran all epochs (else among pruned ones)."""
    for states in (("completed",), ("pruned",)):
        pool = [r for r in records if r.state in states and r.final is not None and math.isfinite(r.final)]
        if pool:
            key = (lambda r: (r.final, -r.number)) if mode == "max" else (lambda r: (-r.final, -r.number))
            return max(pool, key=key)
    return None


def _fmt(value: Any) -> Any:
    return "" if value is None else value


def trials_csv(records: list[TrialRecord], param_names: list[str], metric: str) -> str:
    columns = ["number", "state", *param_names, f"final_{metric}", f"best_{metric}", "test_acc",
               "epochs_run", "seconds", "node_id", "seed", "retries", "reason", "trial_id"]  # fmt: skip
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in sorted(records, key=lambda r: r.number):
        writer.writerow([r.number, r.state, *(_fmt(r.params.get(p)) for p in param_names), _fmt(r.final),
                         _fmt(r.best), _fmt(r.test_acc), r.epochs_run, round(r.seconds, 3), r.node_id,
                         _fmt(r.seed), r.retries, r.reason, r.trial_id])  # fmt: skip
    return buf.getvalue()


def write_trials_csv(path: Path, records: list[TrialRecord], param_names: list[str], metric: str) -> None:
    atomic_write_text(path, trials_csv(records, param_names, metric))


def read_trials_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write_best_yaml(path: Path, record: TrialRecord, metric: str) -> None:
    header = f"# best trial {record.number}: final {metric} {record.final}\n# rerun: nagexp train {path}\n"
    from nagexp.config.train import TrainConfig

    full = TrainConfig(**record.config).model_dump(mode="json")  # every field, defaults included
    atomic_write_text(path, header + to_yaml(full))


def write_summary(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def record_dict(record: TrialRecord) -> dict[str, Any]:
    out = asdict(record)
    out.pop("history")
    out.pop("checkpoint_file")
    return out
