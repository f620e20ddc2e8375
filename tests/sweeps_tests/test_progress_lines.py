"""What a user sees during the first hour: preparation counts rows with a rate, the live view
prints the sweep's first epoch and a heartbeat while trials train, and its clock counts from
the command's start."""

from __future__ import annotations

import time
from pathlib import Path

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


def test_the_header_says_when_the_sampler_learns_from_no_trial(tmp_path: Path) -> None:
    """All trials at once and no batches: TPE proposes every trial after its random start-up
    before any result (a GPU machine's many CPUs run a 10-trial sweep so); the header says so
    and how to let it learn, and says nothing where it could not learn anyway."""
    from nagexp.config.space import SEARCH_SPACES_DIR
    from nagexp.config.sweep import SweepOptions
    from nagexp.sweeps.resources import concurrency_line

    def line(resumed: bool = False, **given: object) -> str:
        options = SweepOptions(**{"space": SEARCH_SPACES_DIR / "quick.yaml", "trials": 10, "max_concurrent": 10,
                                  "results_dir": tmp_path, **given})  # fmt: skip
        return concurrency_line(options, "memory", resumed=resumed)

    blind = "; all 10 trials start before any ends, so tpe learns from none of them: a lower --max-concurrent lets it"
    assert line().endswith(blind)  # TPE's start-up is 4 of 10 trials
    assert line(sampler="cmaes").endswith(blind.replace("tpe", "cmaes"))
    assert line(sampler="gp", trials=12, max_concurrent=12).endswith(blind.replace("10", "12").replace("tpe", "gp"))
    for quiet in ({"max_concurrent": 9}, {"sampler": "random"}, {"sampler": "qmc"}, {"deterministic": True},
                  {"scheduler": "pbt"}, {"sampler": "gp"},  # GP's start-up is 10 random trials
                  {"trials": 4, "max_concurrent": 4},  # all 4 are TPE's start-up
                  {"warm_start": ("earlier",)}, {"resumed": True}):  # fmt: skip
        assert "learns from none" not in line(**quiet), quiet
