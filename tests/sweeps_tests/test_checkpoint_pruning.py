"""A trial's older checkpoints go only once Tune's snapshot on disk names a newer one: a driver
killed at any moment leaves a snapshot whose checkpoints all exist (no Ray needed here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nagexp.sweeps import checkpoint_pruning
from nagexp.sweeps.checkpoint_pruning import MARGIN_S, CheckpointPruner


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(checkpoint_pruning, "time", clock)
    return clock


def checkpoint(trial: Path, index: int) -> str:
    folder = trial / f"checkpoint_{index:06d}"
    folder.mkdir(parents=True)
    (folder / "state.pt").write_bytes(b"x")
    return str(folder)


def snapshot(experiment: Path, at: float) -> None:
    state = experiment / "experiment_state-1.json"
    state.write_text("{}")
    os.utime(state, (at, at))


def left(trial: Path) -> list[str]:
    return sorted(p.name for p in trial.iterdir())


def test_a_checkpoint_stays_until_a_snapshot_names_a_newer_one(tmp_path: Path, clock: Clock) -> None:
    pruner = CheckpointPruner(tmp_path)
    trial = tmp_path / "trial_a"
    pruner.registered("a", checkpoint(trial, 0))
    snapshot(tmp_path, clock.now + 5)  # names checkpoint 0
    clock.now += 10
    pruner.registered("a", checkpoint(trial, 1))  # registered after the snapshot: 0 must stay
    clock.now += 10
    pruner.registered("a", checkpoint(trial, 2))
    assert left(trial) == ["checkpoint_000000", "checkpoint_000001", "checkpoint_000002"]

    snapshot(tmp_path, clock.now + MARGIN_S / 2)  # written just after 2 was registered: it may name 1
    clock.now += 10
    pruner.registered("a", checkpoint(trial, 3))
    assert left(trial) == ["checkpoint_000001", "checkpoint_000002", "checkpoint_000003"]

    snapshot(tmp_path, clock.now + 5)  # names 3
    clock.now += 10
    pruner.registered("a", checkpoint(trial, 4))
    assert left(trial) == ["checkpoint_000003", "checkpoint_000004"]


def test_trials_are_pruned_apart_and_a_finished_sweep_keeps_each_newest(tmp_path: Path, clock: Clock) -> None:
    pruner = CheckpointPruner(tmp_path)
    a, b = tmp_path / "trial_a", tmp_path / "trial_b"
    pruner.registered("a", checkpoint(a, 0))
    clock.now += 10
    pruner.registered("b", checkpoint(b, 0))
    pruner.registered("a", checkpoint(a, 1))
    snapshot(tmp_path, clock.now + 5)
    clock.now += 10
    pruner.registered("b", checkpoint(b, 1))
    assert left(a) == ["checkpoint_000001"] and left(b) == ["checkpoint_000000", "checkpoint_000001"]

    pruner.finish(interrupted=True)  # a resume may restore b from 0 (the snapshot's): nothing goes
    assert left(b) == ["checkpoint_000000", "checkpoint_000001"]
    checkpoint(tmp_path / "trial_c", 3)  # a trial an earlier driver of a resumed sweep checkpointed
    checkpoint(tmp_path / "trial_c", 4)
    pruner.finish(interrupted=False)
    assert left(a) == ["checkpoint_000001"] and left(b) == ["checkpoint_000001"]
    assert left(tmp_path / "trial_c") == ["checkpoint_000004"]
