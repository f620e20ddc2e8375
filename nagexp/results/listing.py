"""The sweeps in a results directory, read from their files (no Ray): for `nagexp ls`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nagexp.results.files import read_trials
from nagexp.results.ranking import best_trial, count_states, finished_count
from nagexp.results.state import sweep_state

__all__ = ["SweepListing", "list_sweeps"]


@dataclass
class SweepListing:
    name: str
    state: str  # finished | interrupted | running | incomplete
    planned: int
    finished: int  # trials that ended, in any way
    counts: dict[str, int]
    metric: str
    best: float | None
    best_number: int | None


def list_sweeps(results_dir: Path) -> list[SweepListing]:
    out = []
    for plan_path in sorted(Path(results_dir).glob("*/sweep.json")):
        folder = plan_path.parent
        try:
            plan = json.loads(plan_path.read_text())
            metric, mode = plan["objective"]["metric"], plan["objective"]["mode"]
            records = read_trials(folder / "trials.csv", list(plan["space"]["params"]), metric)
        except (OSError, ValueError, KeyError):  # not a sweep folder nagexp can read: skip it
            continue
        counts = count_states(records)
        best = best_trial(records, mode)
        out.append(
            SweepListing(
                name=plan["name"],
                state=sweep_state(folder),
                planned=int(plan["options"]["trials"]),
                finished=finished_count(counts),
                counts=counts,
                metric=metric,
                best=best.final if best else None,
                best_number=best.number if best else None,
            )
        )
    return out
