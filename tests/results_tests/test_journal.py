"""journal.jsonl replay: the records a resumed driver starts from (no Ray)."""

from __future__ import annotations

import math
from pathlib import Path

from nagexp.results.journal import Journal, replay
from nagexp.results.records import TrialRecord


def test_replay_rebuilds_records_and_ignores_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    a = TrialRecord(number=0, trial_id="x0", params={"lr": 0.1}, config={"lr": 0.1, "seed": 11})
    b = TrialRecord(number=1, trial_id="x1", params={"lr": 0.2}, config={"lr": 0.2, "seed": 12})
    journal.started(a)
    journal.started(b)
    journal.epoch(a, {"epoch": 1, "val_acc": 0.5, "train_loss": 1.0})
    journal.epoch(b, {"epoch": 1, "val_acc": 0.4, "train_loss": math.nan})  # NaN survives as null
    journal.retried(b)
    journal.epoch(a, {"epoch": 2, "val_acc": 0.7, "test_acc": 0.69})
    a.state, a.checkpoint_file = "completed", "/ckpt/a"
    journal.ended(a)
    journal.close()
    with path.open("a") as f:
        f.write('{"event": "epoch", "number": 1, "metr')  # a driver killed mid-write

    records = replay(path, "val_acc", "max")
    assert sorted(records) == [0, 1]
    first, second = records[0], records[1]
    assert (first.state, first.epochs_run, first.final, first.best, first.test_acc) == ("completed", 2, 0.7, 0.7, 0.69)
    assert first.checkpoint_file == "/ckpt/a" and first.seed == 11 and first.params == {"lr": 0.1}
    assert (second.state, second.epochs_run, second.retries) == ("running", 1, 1)
    assert math.isnan(second.history[0]["train_loss"])


def test_no_journal_no_records(tmp_path: Path) -> None:
    assert replay(tmp_path / "journal.jsonl", "val_acc", "max") == {}


def test_a_resumed_driver_appends_after_the_torn_line_not_onto_it(tmp_path: Path) -> None:
    """The torn line of a killed driver is cut off before the next driver appends: the journal
    reads again after it (otherwise the new event lands on the torn line: damage forever)."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    a = TrialRecord(number=0, trial_id="x0", params={"lr": 0.1}, config={"lr": 0.1, "seed": 11})
    journal.started(a)
    journal.close()
    with path.open("a") as f:
        f.write('{"event": "epoch", "number": 0, "metr')  # a driver killed mid-write
    resumed = Journal(path)
    resumed.epoch(a, {"epoch": 1, "val_acc": 0.5})
    resumed.close()
    records = replay(path, "val_acc", "max")
    assert records[0].epochs_run == 1 and records[0].final == 0.5
    assert path.read_text().count("\n") == 2
