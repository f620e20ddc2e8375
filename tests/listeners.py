"""Trial listeners the sweep tests pass to `run_sweep`."""

from __future__ import annotations

import os
import signal


class KillWorkerOnce:
    """Kills trial 0's worker process (a data-parallel trial's rank 0) right after it
    reported `epoch`: a dead worker."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.killed = epoch, False

    def on_trial_start(self, rec) -> None: ...
    def on_trial_end(self, rec) -> None: ...

    def on_trial_epoch(self, rec, metrics: dict) -> None:
        if rec.number == 0 and metrics["epoch"] == self.epoch and not self.killed:
            self.killed = True
            os.kill(int(metrics["pid"]), signal.SIGKILL)


class TrainingProcesses:
    """The worker processes (pids) that reported the trials' epochs."""

    def __init__(self) -> None:
        self.pids: set[int] = set()

    def on_trial_start(self, rec) -> None: ...
    def on_trial_end(self, rec) -> None: ...

    def on_trial_epoch(self, rec, metrics: dict) -> None:
        self.pids.add(int(metrics["pid"]))
