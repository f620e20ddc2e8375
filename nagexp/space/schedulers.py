"""Ray Tune trial schedulers by name: who stops trials early. Ray is imported only when a
scheduler is built, so the names can be checked (and listed in help) without it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["SCHEDULERS", "SCHEDULER_NAMES", "make_scheduler"]


class SchedulerEntry(NamedTuple):
    description: str
    build: Callable[[str, str, int, Any], Any]  # (metric, mode, max epochs, AshaSettings) -> Tune scheduler


def _asha(metric: str, mode: str, max_epochs: int, asha: Any) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", metric=metric, mode=mode, max_t=max_epochs,
                         grace_period=min(asha.grace_period, max_epochs),
                         reduction_factor=asha.reduction_factor)  # fmt: skip


def _fifo(metric: str, mode: str, max_epochs: int, asha: Any) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


SCHEDULERS: dict[str, SchedulerEntry] = {
    "asha": SchedulerEntry("early stopping on epochs (grace period and reduction factor from the space)", _asha),
    "fifo": SchedulerEntry("every trial runs all its epochs", _fifo),
}
SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)


def make_scheduler(name: str, metric: str, mode: str, max_epochs: int, asha: Any) -> Any:
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler '{name}'; allowed: {', '.join(SCHEDULERS)}")
    return SCHEDULERS[name].build(metric, mode, max_epochs, asha)
