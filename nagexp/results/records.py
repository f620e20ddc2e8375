"""TrialRecord: what the driver knows about one trial, as plain data."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXPLOIT_KEY", "RUNNING", "SCHEDULE_KEY", "STATES", "TrialRecord"]

# in a population-based (PBT/PB2) trial's results: the epoch after it copied another trial's
# weights names that trial; its last epoch carries the piecewise schedule of its weights (JSON)
EXPLOIT_KEY = "exploit_from"
SCHEDULE_KEY = "exported_schedule"

STATES = ("completed", "pruned", "diverged", "errored")  # how a trial can end
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
    exploits: list[dict[str, int]] = field(default_factory=list)  # PBT: {"epoch": after it, "from": trial}
    schedule: dict[str, Any] | None = None  # PBT: TrainConfig fields replaying its weights' schedule

    @property
    def replay_config(self) -> dict[str, Any]:
        """The config that retrains this trial's result from scratch: its own, or for a
        population member, with the schedule its weights were trained under."""
        return {**self.config, **(self.schedule or {})}

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
        if EXPLOIT_KEY in metrics:
            self.exploits.append({"epoch": self.epochs_run - 1, "from": int(metrics[EXPLOIT_KEY])})
        if metrics.get(SCHEDULE_KEY):
            self.schedule = json.loads(metrics[SCHEDULE_KEY])
        if "test_acc" in metrics:
            self.test_acc = float(metrics["test_acc"])
        if metrics.get("diverged"):
            self.reason = str(metrics.get("diverged_reason", "diverged"))


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b

