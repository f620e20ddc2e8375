"""Delete a trial's older Tune checkpoints only once Tune's experiment snapshot names a newer one.

Why not Tune's `CheckpointConfig(num_to_keep=1)`: Tune deletes the previous checkpoint as it
registers the next one and writes the snapshot that names the new one a moment later. A driver
killed in between leaves a snapshot naming a deleted checkpoint, and `--resume` cannot restore
that trial ("Could not recover from checkpoint as it does not exist on storage anymore"; seen in
the SIGKILL resume test). Here Tune keeps every checkpoint, and a checkpoint goes only when a
snapshot written after a newer one was registered is on disk: whatever the snapshot names still
exists."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from nagexp.integrations.ray_tune import CHECKPOINT_GLOB, EXPERIMENT_STATE_GLOB

__all__ = ["CheckpointPruner"]

MARGIN_S = 1.0  # a checkpoint registered this close to a snapshot's write may not be in it
EVERY_S = 2.0  # how often the snapshot's time is looked at


class CheckpointPruner:
    def __init__(self, experiment_dir: Path) -> None:
        self.experiment_dir = experiment_dir
        self.saved: dict[str, list[tuple[float, str]]] = {}  # trial id -> (registered at, path), oldest first
        self._looked = 0.0

    def registered(self, trial_id: str, path: str) -> None:
        """Tune is registering `path` as the trial's newest checkpoint."""
        self.saved.setdefault(trial_id, []).append((time.time(), path))
        if time.monotonic() - self._looked >= EVERY_S:
            self._looked = time.monotonic()
            self.prune(self._snapshot_time())

    def _snapshot_time(self) -> float:
        times = [p.stat().st_mtime for p in self.experiment_dir.glob(EXPERIMENT_STATE_GLOB)]
        return max(times, default=0.0)

    def prune(self, snapshot_time: float) -> None:
        """Per trial, keep the newest checkpoint registered before the snapshot was written
        (the one it names, or an older one than it names) and every later one."""
        for saved in self.saved.values():
            named = [i for i, (at, _) in enumerate(saved) if at < snapshot_time - MARGIN_S]
            if not named or named[-1] == 0:
                continue
            for _, path in saved[: named[-1]]:
                shutil.rmtree(path, ignore_errors=True)
            del saved[: named[-1]]

    def finish(self, interrupted: bool) -> None:
        """After the sweep: an interrupted sweep keeps what a resume needs. A finished sweep's
        last snapshot names each trial's newest checkpoint (the highest-numbered; Tune numbers
        them on across retries and resumes), so only that one stays, also of the trials an
        earlier driver of a resumed sweep checkpointed."""
        if interrupted:
            self.prune(self._snapshot_time())
            return
        for trial in self.experiment_dir.iterdir():
            checkpoints = sorted(trial.glob(CHECKPOINT_GLOB)) if trial.is_dir() else []
            for older in checkpoints[:-1]:
                shutil.rmtree(older, ignore_errors=True)
        self.saved.clear()
