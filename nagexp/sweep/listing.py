"""Read the sweeps in a results directory (no Ray): for `nagexp ls`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from nagexp.sweep.records import read_trials_csv

__all__ = ["SweepListing", "list_sweeps"]


@dataclass
class SweepListing:
    name: str
    state: str  # finished | incomplete
    planned: int
    finished: int
    counts: dict[str, int]
    metric: str
    best: float | None


def _best(rows: list[dict[str, str]], metric: str, mode: str) -> float | None:
    values = []
    for row in rows:
        raw = row.get(f"final_{metric}", "")
        if row.get("state") in ("completed", "pruned") and raw:
            value = float(raw)
            if math.isfinite(value):
                values.append(value)
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def list_sweeps(results_dir: Path) -> list[SweepListing]:
    out = []
    for plan_path in sorted(Path(results_dir).glob("*/sweep.json")):
        folder = plan_path.parent
        try:
            plan = json.loads(plan_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        rows = read_trials_csv(folder / "trials.csv") if (folder / "trials.csv").exists() else []
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        metric, mode = plan["objective"]["metric"], plan["objective"]["mode"]
        out.append(
            SweepListing(
                name=plan["name"],
                state="finished" if (folder / "summary.json").exists() else "incomplete",
                planned=int(plan["options"]["trials"]),
                finished=sum(v for k, v in counts.items() if k != "running"),
                counts=counts,
                metric=metric,
                best=_best(rows, metric, mode),
            )
        )
    return out
