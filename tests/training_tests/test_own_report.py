"""The `report` an own training function gets: its control flow (a diverged objective, the end
of a replayed stretch, a state that must come with each report) cannot be swallowed by the
function's own `except Exception`, and what it reported stays the run's history."""

from __future__ import annotations

import math
from typing import Any

import pytest

from nagexp.config import TrainConfig
from nagexp.core.errors import NagexpError
from nagexp.training.own_trainer import run_own_trainer

HERE = __name__


def careless(config: dict[str, Any], report: Any) -> None:
    """A loop that swallows every Exception around its report and goes on to the last epoch."""
    for epoch in range(1, config["epochs"] + 1):
        loss = math.nan if epoch == config["nan_at"] else 1.0 / epoch
        try:
            report({"val_loss": loss}, state={"epoch": epoch} if config["with_state"] else None)
        except Exception:  # what a careless user writes
            continue


def cfg(nan_at: int = 0, with_state: bool = True) -> TrainConfig:
    return TrainConfig(trainer=f"{HERE}:careless", epochs=4,
                       trainer_args={"nan_at": nan_at, "with_state": with_state})  # fmt: skip


def test_a_diverged_objective_ends_the_run_though_the_function_catches_exceptions() -> None:
    seen: list[str | None] = []
    history = run_own_trainer(cfg(nan_at=2), lambda _row, _state, reason: seen.append(reason), ("val_loss",))
    assert [h["epoch"] for h in history] == [1, 2]  # not 4: the function could not go on
    assert seen == [None, "val_loss is nan"]


def test_a_replayed_stretch_stops_at_its_end_though_the_function_catches_exceptions() -> None:
    history = run_own_trainer(cfg(), lambda *_: None, ("val_loss",), until=3)
    assert [h["epoch"] for h in history] == [1, 2, 3]


def test_a_report_without_the_state_a_population_needs_is_refused_though_caught() -> None:
    with pytest.raises(NagexpError, match="needs its state"):
        run_own_trainer(cfg(with_state=False), lambda *_: None, ("val_loss",), needs_state="PBT needs its state")
