"""Ray Data settings for one dataset, without changing the process's DataContext (tested on
Ray 2.60, where a Dataset keeps a copy of the context it was created under and executes with
it; `DataContext.current` makes a context current for a block)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from nagexp.integrations.versions import Tested

__all__ = ["TESTED", "dataset_settings", "quiet_ray_data"]

TESTED = Tested("ray", "2.60", "2.61", "a Dataset keeping the DataContext it was created under "
                "(DataContext.current, DataContext.copy)")  # fmt: skip
TESTED.check()


@contextlib.contextmanager
def dataset_settings(*, preserve_order: bool, scheduling_strategy: Any = None,
                     resource_limits: dict[str, float] | None = None) -> Iterator[None]:  # fmt: skip
    """Datasets created inside the block execute with these settings (order preserved, no
    progress bars, their tasks placed by `scheduling_strategy`, their read-ahead bounded by
    `resource_limits`); the process's own DataContext is left as it was."""
    import ray.data

    ctx = ray.data.DataContext.get_current().copy()
    ctx.execution_options.preserve_order = preserve_order
    ctx.enable_progress_bars = False
    if scheduling_strategy is not None:
        ctx.scheduling_strategy = ctx.scheduling_strategy_large_args = scheduling_strategy
    if resource_limits is not None:
        ctx.execution_options.resource_limits = ray.data.ExecutionResources(**resource_limits)
    with ray.data.DataContext.current(ctx):
        yield


@contextlib.contextmanager
def quiet_ray_data() -> Iterator[None]:
    """Ray Data's INFO lines (one per dataset run and setting) are noise in a trial's log:
    hidden while the block runs, the logger's level restored after."""
    logger = logging.getLogger("ray.data")
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)
