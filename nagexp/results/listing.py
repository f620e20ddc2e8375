"""The sweeps in a results directory, read from their files (no Ray): for `nagexp ls`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nagexp.core.errors import ConfigError
from nagexp.results.files import read_trials
from nagexp.results.folders import PLAN_FILE, SweepFolder
from nagexp.results.plan import read_plan
from nagexp.results.ranking import best_trial, count_states, finished_count, pareto_front
from nagexp.results.state import sweep_state

__all__ = ["Listing", "SweepListing", "list_sweeps"]


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
    front: list[int] | None = None  # several objectives: the trials on the Pareto front


@dataclass
class Listing:
    sweeps: list[SweepListing] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # one line per sweep folder whose files are damaged


def list_sweeps(results_dir: Path) -> Listing:
    """Every folder with a sweep.json under `results_dir`; a damaged one is a line in `damaged`
    (the others are still listed)."""
    out = Listing()
    for plan_path in sorted(Path(results_dir).glob(f"*/{PLAN_FILE}")):
        folder = plan_path.parent
        try:
            plan = read_plan(folder)
            state = sweep_state(folder)
            records = read_trials(SweepFolder(folder).trials_csv, plan.param_names, plan.metric,
                                  must_exist=state == "finished")  # fmt: skip
        except ConfigError as exc:
            out.damaged.append(str(exc))
            continue
        counts = count_states(records)
        ranking = plan.ranking
        best = best_trial(records, ranking)
        front = [t.number for t in pareto_front(records, ranking)] if ranking.several else None
        # the folder's name, which `report NAME` finds (a folder renamed since holds its old one)
        out.sweeps.append(SweepListing(name=folder.name, state=state, planned=plan.options.trials,
                                       finished=finished_count(counts), counts=counts, metric=plan.metric,
                                       best=best.final if best else None,
                                       best_number=best.number if best else None, front=front))  # fmt: skip
    return out
