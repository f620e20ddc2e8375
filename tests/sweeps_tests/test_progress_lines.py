"""What a user sees during the first hour: preparation counts rows with a rate, the live view
prints the sweep's first epoch and a heartbeat while trials train, and its clock counts from
the command's start."""

from __future__ import annotations

import time

import pytest

from nagexp.core import clock
from nagexp.data.prepared.progress import PrepareProgress
from nagexp.results.records import TrialRecord
from nagexp.sweeps.progress import LiveView

pytestmark = pytest.mark.fast


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_preparation_says_rows_of_the_total_with_a_rate_every_few_seconds() -> None:
    lines: list[str] = []
    fake = FakeClock()
    progress = PrepareProgress(lines.append, "training files", 50_000, clock=fake)
    progress.add(1_000)  # under EVERY seconds: quiet
    fake.now += 6
    progress.add(11_000)
    fake.now += 1
    progress.add(1_000)  # quiet again
    fake.now += 13
    progress.finish()
    assert lines == ["  training files: 12,000 of 50,000 (2,000 a second)",
                     "  training files: 13,000 in 20 s (650 a second)"]  # fmt: skip


def record(number: int, epochs: int, state: str = "running") -> TrialRecord:
    return TrialRecord(number=number, trial_id=f"t{number}", state=state, final=0.5 if epochs else None,
                       epochs_run=epochs)  # fmt: skip


def test_a_log_sees_the_first_epoch_then_a_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[str] = []
    view = LiveView(4, "val_acc", "max", emit=lines.append)
    view.update([record(0, 0)], trial_ended=False)  # started: nothing yet
    view.tick([record(0, 0)])  # within the heartbeat: quiet
    assert lines == []
    view.update([record(0, 1)], trial_ended=False)  # the sweep's first epoch
    assert len(lines) == 1 and "running 1" in lines[0]
    view.update([record(0, 2)], trial_ended=False)  # later epochs: quiet
    view.tick([record(0, 2)])
    assert len(lines) == 1
    monkeypatch.setattr(LiveView, "HEARTBEAT", 0.0)
    view.tick([record(0, 2)])  # a quiet spell while a trial runs: the line again
    assert len(lines) == 2
    view.tick([record(0, 4, state="completed")])  # nothing running: no heartbeat
    assert len(lines) == 2


def test_the_clock_counts_from_the_commands_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "_started", None)
    before = time.monotonic()
    assert clock.take_command_start() >= before  # from Python: each sweep starts its own clock
    clock.mark_command_start()
    marked = clock._started
    assert clock.take_command_start() == marked  # the command's first sweep
    assert clock.take_command_start() > marked  # a second one (compare's next arm): its own start
    view = LiveView(4, "val_acc", "max", emit=lambda _: None, started=time.monotonic() - 65)
    assert view.line([]).startswith("[01:05] done 0/4")
