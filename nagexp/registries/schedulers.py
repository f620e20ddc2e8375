"""Ray Tune trial schedulers by name: who stops trials early (asha), or who changes their
hyperparameters while they train (pbt, pb2). Each entry: what it does (for help texts) and
the import path of `build(metric, mode, max_epochs, space, seed)` (see `nagexp.space.schedulers`)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["POPULATION_SCHEDULERS", "SCHEDULERS", "SCHEDULER_NAMES", "SchedulerEntry"]


class SchedulerEntry(NamedTuple):
    description: str
    build: str  # import path


_AT = "nagexp.space.schedulers"
SCHEDULERS: dict[str, SchedulerEntry] = {
    "asha": SchedulerEntry("early stopping on epochs (grace period and reduction factor from the space)",
                           f"{_AT}:asha"),
    "fifo": SchedulerEntry("every trial runs all its epochs", f"{_AT}:fifo"),
    "pbt": SchedulerEntry("population-based training: the worst trials copy the best and perturb "
                          "lr/momentum (`pbt:` in the space)", f"{_AT}:pbt"),
    "pb2": SchedulerEntry("PBT whose new values come from a GP bandit (PB2)", f"{_AT}:pb2"),
}  # fmt: skip
SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)
# population-based: the trials are a population the scheduler copies and perturbs; no search
# algorithm (Ray refuses one), the sampler draws the first population
POPULATION_SCHEDULERS: tuple[str, ...] = ("pbt", "pb2")
