"""MLflow for `nagexp compare`: one parent run per comparison, the arms' sweeps nested
under it, and the verdicts, per-arm means and report on the parent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nagexp.tracking.store import TrackingStore
from nagexp.tracking.tracker import Tracker

__all__ = ["CompareTracking"]


class CompareTracking:
    def __init__(self, store: TrackingStore) -> None:
        self.tracker = Tracker(store)  # opened now: an unusable store fails before any arm runs
        self.run_id: str | None = None

    def start(self, name: str, seed: int, arms: list[str]) -> str:
        """The comparison's parent run (the arms' sweep runs nest under it)."""
        tags = {"nagexp.kind": "compare", "seed": str(seed), "arms": ",".join(arms)}
        self.run_id = self.tracker.start_run(name, tags)
        return self.run_id

    def finish(self, comparison: Any, report_dir: Path) -> None:
        """Each arm's retrained mean, the verdicts and the report, then the run ends."""
        if self.run_id is None:
            return
        metrics = {f"{a.arm}_mean_{comparison.metric}": a.ci[0] for a in comparison.arms if a.ci}
        self.tracker.log(self.run_id, metrics, tags={f"verdict_{i}": v for i, v in enumerate(comparison.verdicts)})
        self.tracker.client.log_artifacts(self.run_id, str(report_dir), "report")
        self.tracker.end_run(self.run_id)

    def abandon(self, interrupted: bool) -> None:
        """A comparison that stopped before its end: its run ends KILLED (Ctrl-C) or FAILED, not
        RUNNING for good (its arms' runs say how each ended)."""
        if self.run_id is not None:
            self.tracker.end_run(self.run_id, status="KILLED" if interrupted else "FAILED")
